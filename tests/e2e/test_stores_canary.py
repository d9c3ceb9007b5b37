"""Canaries through every store path: a Vault token, an AppRole secret ID and a value.

The controller runs at DEBUG against real OpenBao; the test drives token and
AppRole stores to success, a rotation through the refresh annotation, a
missing property, rejected credentials, a killed server and its return, and
deletion. Then it greps everything the controller emitted: log records
(messages, extras, tracebacks), Events, SecretSync and store status, and the
Prometheus exposition. Only target Secrets may hold the canaries.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from typing import Any

import pytest
from prometheus_client import generate_latest

from secretloom.api.secretsync import REFRESH_ANNOTATION
from secretloom.runtime import metrics
from secretloom.runtime.kube import KubeClient
from secretloom.runtime.logs import JsonFormatter
from secretloom.runtime.resources import EVENTS, SECRET_STORES, SECRET_SYNCS
from secretloom.testing.openbao import OpenBaoServer
from tests.e2e import kit
from tests.e2e import stores_kit as sk
from tests.openbao.support import KV2, make_approle, read_policy, unique, write_policy

VALUE = f"canary-value-{secrets.token_hex(6)}"
SECRET_ID = f"canary-secret-id-{secrets.token_hex(6)}"


async def test_no_token_secret_id_or_value_in_logs_events_status_or_metrics(
    kube: KubeClient,
    namespace: str,
    bao: OpenBaoServer,
    root: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    path = unique("app")
    sk.seed(root, path, key=VALUE, other=VALUE + "-other")
    app_role = make_approle(
        root, write_policy(root, read_policy(f"{KV2}/data/{path}")), secret_id=SECRET_ID
    )
    async with sk.controller(kube, namespace):
        await sk.put_token(kube, namespace, bao.root_token)
        await kit.put_secret(kube, namespace, "approle", {"secret-id": SECRET_ID}, manager="x")
        await kit.put_secret(kube, namespace, "wrong", {"secret-id": SECRET_ID + "x"}, manager="x")
        await sk.apply_store(kube, namespace, "token", sk.vault(bao.address))
        await sk.apply_store(kube, namespace, "approle", sk.vault(bao.address, app_role.auth()))
        wrong = app_role.auth()
        wrong["appRole"]["secretRef"] = {"name": "wrong", "key": "secret-id"}
        await sk.apply_store(kube, namespace, "wrong", sk.vault(bao.address, wrong))
        data_from = [{"store": {"name": "approle"}, "path": path, "prefix": "all-"}]
        specs = {
            "by-token": sk.sync("t1", {"k": sk.from_store("token", path, "key")}, "1s"),
            "by-approle": sk.sync("t2", {}, dataFrom=data_from),
            "missing": sk.sync("t3", {"k": sk.from_store("token", path, "absent")}),
            "rejected": sk.sync("t4", {"k": sk.from_store("wrong", path, "key")}),
        }
        for name, spec in specs.items():
            await kit.apply_sync(kube, namespace, name, spec)
        for name, condition in (
            ("by-token", "Ready"),
            ("by-approle", "Ready"),
            ("missing", "SourceMissing"),
            ("rejected", "ProviderError"),
        ):
            await kit.wait_condition(kube, namespace, name, condition)
        await sk.wait_store(kube, namespace, "wrong", "False")

        sk.seed(root, path, key=VALUE + "-2", other=VALUE + "-other")
        annotation = {"metadata": {"annotations": {REFRESH_ANNOTATION: VALUE}}}
        await kube.merge_patch(SECRET_SYNCS.path(namespace, "by-approle"), annotation)

        async def rotated() -> bool:
            got = kit.values(await kit.get_secret(kube, namespace, "t2"))
            return got.get("all-key") == VALUE + "-2"

        await kit.eventually(rotated)
        bao.kill()
        await kit.wait_condition(kube, namespace, "by-token", "ProviderError")
        bao.start()
        sk.seed(root, path, key=VALUE + "-3")
        await kit.wait_condition(kube, namespace, "by-token", "Ready")
        syncs, _ = await kube.list(SECRET_SYNCS.path(namespace))
        for name in specs:
            await kube.delete(SECRET_SYNCS.path(namespace, name))

        await kit.wait_all_finalized(kube, namespace)
        stores, _ = await kube.list(SECRET_STORES.path(namespace))
        events, _ = await kube.list(EVENTS.path(namespace))

    formatter = JsonFormatter()
    emitted = {
        "logs": "\n".join(formatter.format(r) for r in caplog.records),
        "events": json.dumps(events),
        "status": json.dumps([s.get("status") for s in [*syncs, *stores]]),
        "metrics": generate_latest(metrics.REGISTRY).decode(),
    }
    assert len(caplog.records) > 10
    assert any(e["reason"] == "ProviderError" for e in events)
    for canary in (VALUE, bao.root_token, SECRET_ID):
        encoded = base64.b64encode(canary.encode()).decode()
        for where, text in emitted.items():
            assert canary not in text, f"canary leaked into {where}"
            assert encoded[:16] not in text, f"base64 canary leaked into {where}"
