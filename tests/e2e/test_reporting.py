"""What a SecretSync tells people: Normal Events on syncs and rotations, statuses without "".

Before (issue 10): no Event at all on a successful sync or a rotation, and
every unset status field written as an empty string.
"""

from __future__ import annotations

import asyncio
from typing import Any

from secretloom.runtime.kube import KubeClient
from secretloom.testing.openbao import OpenBaoServer
from tests.e2e import kit
from tests.e2e import stores_kit as sk
from tests.openbao.support import unique

TARGET = "app-secret"


async def synced_notes(kube: KubeClient, namespace: str, name: str) -> list[str]:
    events = await kit.events_for(kube, namespace, name)
    return sorted(e["note"] for e in events if e["reason"] == "Synced" and e["type"] == "Normal")


def empty_strings(value: Any, where: str = "status") -> list[str]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in empty_strings(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in empty_strings(v, f"{where}[{i}]")]
    return [where] if value == "" else []


async def test_synced_events_on_the_first_sync_and_each_rotation_never_at_rest(
    kube: KubeClient, namespace: str
) -> None:
    async with kit.controller(kube, namespace):
        await kit.put_secret(kube, namespace, "src", {"k": "v1"}, manager="team")
        await kit.apply_sync(kube, namespace, "sync", kit.sync_spec(TARGET, {"k": ("src", "k")}))
        await kit.wait_condition(kube, namespace, "sync", "Ready")
        first = [f"synced 1 key(s) to Secret {TARGET!r}"]

        async def noted(expected: list[str]) -> bool:
            return await synced_notes(kube, namespace, "sync") == expected

        await kit.eventually(lambda: noted(first))

        # A reconcile that writes nothing (the source's labels changed, not its data).
        await kube.merge_patch(
            f"/api/v1/namespaces/{namespace}/secrets/src", {"metadata": {"labels": {"x": "y"}}}
        )
        await asyncio.sleep(1.0)
        assert await synced_notes(kube, namespace, "sync") == first

        await kit.put_secret(kube, namespace, "src", {"k": "v2"}, manager="team")
        rotated = [*first, f"updated key(s) ['k'] in Secret {TARGET!r}"]
        await kit.eventually(lambda: noted(sorted(rotated)))


async def test_statuses_carry_no_empty_strings_and_drop_what_no_longer_applies(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any
) -> None:
    path = unique("app")
    sk.seed(root, path, key="from-vault")
    async with sk.controller(kube, namespace):
        await sk.put_token(kube, namespace, bao.root_token)
        await sk.apply_store(kube, namespace, "vault", sk.vault(bao.address))
        await kit.put_secret(kube, namespace, "src", {"k": "v"}, manager="team")
        spec = sk.sync(TARGET, {"key": sk.from_store("vault", path, "key")})
        await kit.apply_sync(kube, namespace, "sync", spec)
        polled = (await kit.wait_condition(kube, namespace, "sync", "Ready"))["status"]
        assert polled["lastRefreshTime"] and polled["nextRefreshTime"]
        assert "refreshRequest" not in polled  # no refresh annotation: not set
        assert empty_strings(polled) == []
        store = await sk.wait_store(kube, namespace, "vault")
        assert empty_strings(store["status"]) == []

        # The same SecretSync without store entries: the refresh times go away.
        await kit.apply_sync(kube, namespace, "sync", kit.sync_spec(TARGET, {"key": ("src", "k")}))
        watched = (await kit.wait_condition(kube, namespace, "sync", "Ready"))["status"]
        assert "lastRefreshTime" not in watched and "nextRefreshTime" not in watched
        assert "ProviderError" not in {c["type"] for c in watched["conditions"]}
        assert empty_strings(watched) == []
