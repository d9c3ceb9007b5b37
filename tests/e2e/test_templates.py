"""Template keys on the real control plane with real OpenBao (issue 14).

A DSN built from a Vault password and a Kubernetes Secret's user name; the
Vault value rotates and the DSN follows; a template that reaches for anything
beyond its inputs is refused with a condition naming it and its line, the last
good DSN kept; and the password, a canary, shows up only in the target Secret.
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
from secretloom.runtime.resources import EVENTS, SECRET_SYNCS
from secretloom.testing.openbao import OpenBaoServer
from tests.e2e import kit
from tests.e2e import stores_kit as sk
from tests.openbao.support import KV2, make_token, read_policy, unique, write_policy

PASSWORD = f"canary-pw-{secrets.token_hex(6)}"
DSN = "postgres://{{ data.user }}:{{ data['password']|urlquote }}@db.{{ data.user }}:5432/app"


async def test_a_dsn_from_a_vault_value_and_a_kubernetes_value(
    kube: KubeClient,
    namespace: str,
    bao: OpenBaoServer,
    root: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    path = unique("db")
    sk.seed(root, path, password=PASSWORD + "/1")
    token = make_token(root, write_policy(root, read_policy(f"{KV2}/data/{path}")))
    spec = sk.sync(
        "app-db",
        {
            "user": {"secret": "db-user", "key": "name"},
            "password": sk.from_store("vault", path, "password"),
        },
        templates=[{"key": "dsn", "template": DSN}],
    )
    async with sk.controller(kube, namespace):
        await sk.put_token(kube, namespace, token)
        await sk.apply_store(kube, namespace, "vault", sk.vault(bao.address))
        await kit.put_secret(kube, namespace, "db-user", {"name": "app"}, manager="dba")
        await kit.apply_sync(kube, namespace, "db", spec)
        await kit.wait_condition(kube, namespace, "db", "Ready")

        async def dsn_is(password: str) -> bool:
            found = kit.values(await kit.get_secret(kube, namespace, "app-db")).get("dsn")
            return found == f"postgres://app:{password}@db.app:5432/app"

        assert await dsn_is(PASSWORD + "%2F1")
        status = (await kit.get_sync(kube, namespace, "db"))["status"]
        dsn_status = next(k for k in status["keys"] if k["key"] == "dsn")
        assert (dsn_status["source"], dsn_status["state"]) == ("template", "Synced")

        # The Vault value rotates; the refresh annotation reads it now.
        sk.seed(root, path, password=PASSWORD + "/2")
        annotations = {"metadata": {"annotations": {REFRESH_ANNOTATION: "1"}}}
        await kube.merge_patch(SECRET_SYNCS.path(namespace, "db"), annotations)
        await kit.eventually(lambda: dsn_is(PASSWORD + "%2F2"))

        # A template reaching beyond its inputs: a condition with its key and line.
        spec["templates"] = [{"key": "dsn", "template": "host=db\n{{ lookup('env', 'HOME') }}"}]
        await kit.apply_sync(kube, namespace, "db", spec)
        found = await kit.wait_condition(
            kube, namespace, "db", "Ready", "False", reason="TemplateError"
        )
        assert kit.condition(found, "Ready")["message"] == (
            "template 'dsn': line 2: call is not allowed in templates"
        )
        assert await dsn_is(PASSWORD + "%2F2")  # the last good value stays
        # One that computes a lookup from a value (the value would be in the error).
        spec["templates"] = [{"key": "dsn", "template": "{{ data[data.password] }}"}]
        await kit.apply_sync(kube, namespace, "db", spec)
        found = await kit.wait_condition(
            kube, namespace, "db", "Ready", "False", reason="TemplateError"
        )
        assert "literal key" in kit.condition(found, "Ready")["message"]
        events, _ = await kube.list(EVENTS.path(namespace))
        syncs = await kit.get_sync(kube, namespace, "db")

    assert any(e["reason"] == "TemplateError" for e in events)
    encoded = base64.b64encode(PASSWORD.encode()).decode()
    emitted = {
        "logs": "\n".join(JsonFormatter().format(r) for r in caplog.records),
        "events": json.dumps(events),
        "status": json.dumps(syncs.get("status")),
        "metrics": generate_latest(metrics.REGISTRY).decode(),
    }
    for where, text in emitted.items():
        assert PASSWORD not in text, f"canary leaked into {where}"
        assert encoded[:16] not in text, f"base64 canary leaked into {where}"
