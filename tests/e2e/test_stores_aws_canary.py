"""Canaries through the AWS providers: static keys, a web-identity token and values.

The controller runs at DEBUG against real moto; the test drives a Secrets
Manager and a Parameter Store store to success, an IRSA store with a token
the real API server minted, a missing property, throttling, rejected keys, a
killed emulator and its return, and deletion. Then it greps everything the
controller emitted: log records, Events, SecretSync and store status, and
the Prometheus exposition. Only target Secrets may hold the canaries.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import urllib.parse
from typing import Any

import pytest
from prometheus_client import generate_latest

from secretloom.runtime import metrics
from secretloom.runtime.kube import KubeClient
from secretloom.runtime.logs import JsonFormatter
from secretloom.runtime.resources import EVENTS, SECRET_STORES, SECRET_SYNCS
from secretloom.testing.moto import MotoServer, body_of, operation_of
from tests.aws.conftest import moto, moto_session, sm, ssm, unique
from tests.aws.support import KEY_ID_CANARY, ROLE_ARN, SECRET_KEY_CANARY
from tests.e2e import aws_kit as ak
from tests.e2e import kit
from tests.e2e import stores_kit as sk

__all__ = ["moto", "moto_session", "sm", "ssm"]

VALUE = f"canary-aws-value-{secrets.token_hex(6)}"
PARAMETER = f"canary-aws-parameter-{secrets.token_hex(6)}"


async def test_no_key_token_or_value_in_logs_events_status_or_metrics(
    kube: KubeClient,
    namespace: str,
    moto: MotoServer,
    sm: Any,
    ssm: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name, prefix = unique("canary"), f"/{unique('canary')}"
    sm.create_secret(Name=name, SecretString=json.dumps({"k": VALUE}))
    ssm.put_parameter(Name=f"{prefix}/p", Value=PARAMETER, Type="SecureString")
    caplog.set_level(logging.DEBUG)  # after the test's own seeding: what the controller logs
    irsa = {"jwt": {"roleArn": ROLE_ARN, "serviceAccountRef": {"name": "aws-reader"}}}
    async with sk.controller(kube, namespace, tokens=ak.IRSA_TOKENS, provider_timeout=2.0):
        await ak.put_keys(kube, namespace)
        await sk.create_service_account(kube, namespace, "aws-reader")
        await ak.apply_store(kube, namespace, "sm", moto, "awsSecretsManager")
        await ak.apply_store(kube, namespace, "ssm", moto, "awsParameterStore")
        await ak.apply_store(kube, namespace, "irsa", moto, "awsSecretsManager", auth=irsa)
        data_from = [{"store": {"name": "ssm"}, "path": prefix}]
        specs = {
            "by-keys": sk.sync("t1", {"k": sk.from_store("sm", name, "k")}, "1s"),
            "by-path": sk.sync("t2", {}, dataFrom=data_from),
            "by-irsa": sk.sync("t3", {"k": sk.from_store("irsa", name, "k")}),
            "missing": sk.sync("t4", {"k": sk.from_store("sm", name, "absent")}),
        }
        for sync, spec in specs.items():
            await kit.apply_sync(kube, namespace, sync, spec)
        for sync, condition in (
            ("by-keys", "Ready"),
            ("by-path", "Ready"),
            ("by-irsa", "Ready"),
            ("missing", "SourceMissing"),
        ):
            await kit.wait_condition(kube, namespace, sync, condition)
        tokens = [  # what the API server minted for the IRSA store (the recording ends at kill)
            urllib.parse.parse_qs(body_of(e))["WebIdentityToken"][0]
            for e in moto.requests()
            if operation_of(e) == "AssumeRoleWithWebIdentity"
        ]

        moto.throttle(1000)
        await kit.wait_condition(kube, namespace, "by-keys", "ProviderError", timeout=15)
        moto.throttle(0)
        await kit.wait_condition(kube, namespace, "by-keys", "Ready", timeout=15)
        with moto.enforcing_auth():
            await kit.wait_condition(kube, namespace, "by-keys", "ProviderError", timeout=15)
        await kit.wait_condition(kube, namespace, "by-keys", "Ready", timeout=15)
        moto.kill()
        await kit.wait_condition(kube, namespace, "by-keys", "ProviderError", timeout=15)
        moto.start()
        await kit.wait_condition(kube, namespace, "by-keys", "SourceMissing", timeout=15)

        syncs, _ = await kube.list(SECRET_SYNCS.path(namespace))
        for sync in specs:
            await kube.delete(SECRET_SYNCS.path(namespace, sync))
        await kit.wait_all_finalized(kube, namespace)
        stores, _ = await kube.list(SECRET_STORES.path(namespace))
        events, _ = await kube.list(EVENTS.path(namespace))

    assert tokens  # the IRSA store did exchange a real token
    formatter = JsonFormatter()
    emitted = {
        "logs": "\n".join(formatter.format(r) for r in caplog.records),
        "events": json.dumps(events),
        "status": json.dumps([s.get("status") for s in [*syncs, *stores]]),
        "metrics": generate_latest(metrics.REGISTRY).decode(),
    }
    assert len(caplog.records) > 10
    assert any(e["reason"] == "ProviderError" for e in events)
    for canary in (VALUE, PARAMETER, KEY_ID_CANARY, SECRET_KEY_CANARY, *tokens):
        encoded = base64.b64encode(canary.encode()).decode()
        for where, text in emitted.items():
            assert canary not in text, f"canary leaked into {where}"
            assert encoded[:16] not in text, f"base64 canary leaked into {where}"
