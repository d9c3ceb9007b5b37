"""Drift: an owned key edited by someone else is restored, with backoff, never in a tight loop."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from secretloom.runtime.kube import MERGE_PATCH, KubeClient
from secretloom.runtime.resources import SECRETS
from tests.e2e import kit

TARGET = "app-secret"


async def edit(kube: KubeClient, namespace: str, value: str) -> None:
    """What `kubectl edit` does: an Update (not an apply) under its own field manager."""
    await kube.request(
        "PATCH",
        SECRETS.path(namespace, TARGET),
        params={"fieldManager": "kubectl-edit"},
        body={"data": {"token": kit.b64(value)}},
        content_type=MERGE_PATCH,
    )


async def setup(kube: KubeClient, namespace: str) -> None:
    await kit.put_secret(kube, namespace, "src", {"token": "ours"}, manager="vso")
    await kit.apply_sync(
        kube, namespace, "sync", kit.sync_spec(TARGET, {"token": ("src", "token")})
    )
    await kit.wait_condition(kube, namespace, "sync", "Ready")


async def test_an_edited_key_is_restored_with_an_event(kube: KubeClient, namespace: str) -> None:
    async with kit.controller(kube, namespace):
        await setup(kube, namespace)
        await edit(kube, namespace, "theirs")

        async def restored() -> bool:
            return kit.values(await kit.get_secret(kube, namespace, TARGET)) == {"token": "ours"}

        await kit.eventually(restored)
        target = await kit.get_secret(kube, namespace, TARGET)
        assert target is not None
        assert kit.owners(target)[f"secretloom/{namespace}/sync"] == {"token"}
        events = await kit.events_for(kube, namespace, "sync")
        drift = [e for e in events if e["reason"] == "DriftCorrected"]
        assert drift
        assert "kubectl-edit" in drift[0]["note"]


async def test_a_writer_that_keeps_coming_back_gets_bounded_backed_off_corrections(
    kube: KubeClient, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="secretloom")
    async with kit.controller(kube, namespace):
        await setup(kube, namespace)
        async with kit.TargetWatch(kube, namespace, TARGET) as watch:
            stop = time.monotonic() + 10
            edits = 0
            while time.monotonic() < stop:
                await edit(kube, namespace, f"theirs-{edits}")
                edits += 1
                await asyncio.sleep(0.1)
            ours = [w for w in watch.writes if kit.values(w).get("token") == "ours"]
        corrections = [r for r in caplog.records if r.getMessage().startswith("restored owned")]
        assert edits >= 50
        # Backoff 1 s, 2 s, 4 s ...: about five corrections in ten seconds, never one per edit.
        assert 1 <= len(ours) <= 8, len(ours)
        assert len(corrections) == len(ours)
        synced = await kit.wait_condition(kube, namespace, "sync", "Contested")
        assert "token" in kit.condition(synced, "Contested")["message"]

        async def restored() -> bool:
            return kit.values(await kit.get_secret(kube, namespace, TARGET)) == {"token": "ours"}

        await kit.eventually(restored, timeout=40)  # after the writer stops, we win
