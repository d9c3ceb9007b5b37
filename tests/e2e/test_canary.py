"""A canary value through every path that touches values: it must appear only in Secrets.

The controller runs at DEBUG; the test drives success, conflict, drift, a
missing source key, a cross-namespace reference and deletion, then greps
everything the controller emitted: log records (message, extras, tracebacks),
Events, SecretSync status and the Prometheus exposition. It runs twice: with
every SecretSync writing as its own field manager, and with the target
aggregated (issue 17), whose coalesced writes are a second path for values.
"""

from __future__ import annotations

import base64
import json
import logging

import pytest
from prometheus_client import generate_latest

from secretloom.runtime import metrics
from secretloom.runtime.kube import MERGE_PATCH, KubeClient
from secretloom.runtime.logs import JsonFormatter
from secretloom.runtime.resources import EVENTS, SECRET_SYNCS, SECRETS
from tests.e2e import kit

CANARY = "canary-7f3a9c1e-do-not-leak"


@pytest.mark.parametrize("aggregate_writers", [16, 1], ids=["own-managers", "aggregated"])
async def test_no_secret_value_in_logs_events_status_or_metrics(
    kube: KubeClient, namespace: str, caplog: pytest.LogCaptureFixture, aggregate_writers: int
) -> None:
    caplog.set_level(logging.DEBUG)
    async with kit.controller(kube, namespace, aggregate_writers=aggregate_writers):
        await kit.put_secret(
            kube, namespace, "src", {"token": CANARY, "other": CANARY + "-2"}, manager="vso"
        )
        await kit.apply_sync(kube, namespace, "ok", kit.sync_spec("t", {"token": ("src", "token")}))
        await kit.wait_condition(kube, namespace, "ok", "Ready")
        await kit.apply_sync(
            kube, namespace, "clash", kit.sync_spec("t", {"token": ("src", "other")})
        )
        await kit.wait_condition(kube, namespace, "clash", "Conflict")
        await kit.apply_sync(kube, namespace, "missing", kit.sync_spec("t", {"x": ("src", "nope")}))
        await kit.wait_condition(kube, namespace, "missing", "SourceMissing")
        spec = kit.sync_spec("t", {"y": ("src", "token")})
        spec["data"][0]["from"]["namespace"] = "elsewhere"
        await kit.apply_sync(kube, namespace, "cross", spec)
        await kit.wait_condition(kube, namespace, "cross", "Ready", "False")
        await kube.request(
            "PATCH",
            SECRETS.path(namespace, "t"),
            params={"fieldManager": "kubectl-edit"},
            body={"data": {"token": kit.b64(CANARY + "-edited")}},
            content_type=MERGE_PATCH,
        )

        async def restored() -> bool:
            return kit.values(await kit.get_secret(kube, namespace, "t")).get("token") == CANARY

        await kit.eventually(restored)
        await kube.delete(SECRET_SYNCS.path(namespace, "ok"))

        async def handed_over() -> bool:
            # "ok" released its key; "clash", which waited in Conflict, now writes it.
            return kit.values(await kit.get_secret(kube, namespace, "t")).get("token") == (
                CANARY + "-2"
            )

        await kit.eventually(handed_over)
        syncs, _ = await kube.list(SECRET_SYNCS.path(namespace))
        events, _ = await kube.list(EVENTS.path(namespace))

    encoded = base64.b64encode(CANARY.encode()).decode()
    formatter = JsonFormatter()
    emitted = {
        "logs": "\n".join(formatter.format(r) for r in caplog.records),
        "events": json.dumps(events),
        "status": json.dumps([s.get("status") for s in syncs]),
        "metrics": generate_latest(metrics.REGISTRY).decode(),
    }
    # The controller logged what it did with the canary's Secret, so the logs were checked.
    logged = {r.getMessage() for r in caplog.records if r.name.startswith("secretloom.")}
    assert {"restored owned keys changed by another writer", "finalized"} <= logged
    assert any(e["reason"] == "DriftCorrected" for e in events)
    for where, text in emitted.items():
        assert CANARY not in text, f"canary leaked into {where}"
        assert encoded[:16] not in text, f"base64 canary leaked into {where}"
