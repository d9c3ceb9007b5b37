"""Ownership guards on the real control plane (issue 9, "destructive ownership").

Each test is an attack the security review reproduced, with the tenant's
SecretSync authored in its own namespace:
- `creationPolicy: Owner` on an existing Secret handed it to the garbage
  collector (with other managers' keys) when the SecretSync was deleted;
- `force: true` overwrote Helm's key and the token of a ServiceAccount-token Secret;
- a writer naming itself `secretloom/...` was taken for a SecretSync and never
  repaired as drift;
- two SecretSyncs forcing one key flipped it forever;
- a legacy ServiceAccount-token Secret could be copied into a readable Secret.
"""

from __future__ import annotations

import asyncio

from secretloom.runtime.kube import KubeClient
from secretloom.runtime.resources import SECRET_SYNCS, SECRETS, SERVICE_ACCOUNTS
from tests.e2e import kit

TARGET = "shared"


async def _deleted_and_settled(kube: KubeClient, namespace: str, name: str) -> None:
    await kube.delete(SECRET_SYNCS.path(namespace, name))
    await kit.wait_all_finalized(kube, namespace)
    await asyncio.sleep(3)  # the garbage collector acts within a second or two here


async def test_owner_does_not_adopt_an_existing_secret_without_adopt(
    kube: KubeClient, namespace: str
) -> None:
    async with kit.controller(kube, namespace):
        await kit.put_secret(kube, namespace, TARGET, {"helm-key": "h"}, manager="helm")
        await kit.put_secret(kube, namespace, "src", {"token": "t"}, manager="vso")
        spec = kit.sync_spec(TARGET, {"token": ("src", "token")}, creationPolicy="Owner")
        await kit.apply_sync(kube, namespace, "grab", spec)
        synced = await kit.wait_condition(kube, namespace, "grab", "Ready", status="False")
        ready = kit.condition(synced, "Ready")
        assert ready["reason"] == "AdoptionRequired"
        assert "adopt: true" in ready["message"]
        target = await kit.get_secret(kube, namespace, TARGET)
        assert target is not None
        assert "ownerReferences" not in target["metadata"]
        assert kit.values(target) == {"helm-key": "h"}

        await _deleted_and_settled(kube, namespace, "grab")
        assert kit.values(await kit.get_secret(kube, namespace, TARGET)) == {"helm-key": "h"}


async def test_an_adopted_secret_keeps_other_managers_keys_when_the_owner_goes(
    kube: KubeClient, namespace: str
) -> None:
    async with kit.controller(kube, namespace):
        await kit.put_secret(kube, namespace, TARGET, {"helm-key": "h"}, manager="helm")
        await kit.put_secret(kube, namespace, "src", {"token": "t"}, manager="vso")
        spec = kit.sync_spec(
            TARGET, {"token": ("src", "token")}, creationPolicy="Owner", adopt=True
        )
        synced = await kit.apply_sync(kube, namespace, "adopter", spec)
        await kit.wait_condition(kube, namespace, "adopter", "Ready")
        target = await kit.get_secret(kube, namespace, TARGET)
        assert target is not None
        assert target["metadata"]["ownerReferences"][0]["uid"] == synced["metadata"]["uid"]

        await _deleted_and_settled(kube, namespace, "adopter")
        left = await kit.get_secret(kube, namespace, TARGET)
        assert left is not None, "the garbage collector deleted a Secret holding helm's key"
        assert kit.values(left) == {"helm-key": "h"}
        assert "ownerReferences" not in left["metadata"]


async def test_an_owned_secret_that_others_joined_is_not_collected(
    kube: KubeClient, namespace: str
) -> None:
    async with kit.controller(kube, namespace):
        await kit.put_secret(kube, namespace, "src", {"token": "t", "other": "o"}, manager="vso")
        owner = kit.sync_spec(TARGET, {"token": ("src", "token")}, creationPolicy="Owner")
        await kit.apply_sync(kube, namespace, "owner", owner)
        await kit.wait_condition(kube, namespace, "owner", "Ready")
        await kit.apply_sync(
            kube, namespace, "joiner", kit.sync_spec(TARGET, {"o": ("src", "other")})
        )
        await kit.wait_condition(kube, namespace, "joiner", "Ready")

        await kube.delete(SECRET_SYNCS.path(namespace, "owner"))

        async def owner_gone() -> bool:
            items, _ = await kube.list(SECRET_SYNCS.path(namespace))
            return [i["metadata"]["name"] for i in items] == ["joiner"]

        await kit.eventually(owner_gone)
        await asyncio.sleep(3)
        left = await kit.get_secret(kube, namespace, TARGET)
        assert left is not None
        assert kit.values(left) == {"o": "o"}


async def test_force_does_not_take_keys_of_writers_that_are_not_secretsyncs(
    kube: KubeClient, namespace: str
) -> None:
    async with kit.controller(kube, namespace):
        await kit.put_secret(kube, namespace, TARGET, {"db-password": "helm"}, manager="helm")
        await kit.put_secret(kube, namespace, "src", {"p": "tenant"}, manager="vso")
        spec = kit.sync_spec(TARGET, {"db-password": ("src", "p")}, force=True)
        await kit.apply_sync(kube, namespace, "forcer", spec)
        synced = await kit.wait_condition(kube, namespace, "forcer", "Conflict")
        assert "'helm'" in kit.condition(synced, "Conflict")["message"]
        assert kit.values(await kit.get_secret(kube, namespace, TARGET)) == {"db-password": "helm"}

    # The operator's opt-in restores the old behaviour.
    async with kit.controller(kube, namespace, force_foreign=True):
        await kit.wait_condition(kube, namespace, "forcer", "Ready")
        taken = await kit.get_secret(kube, namespace, TARGET)
        assert kit.values(taken) == {"db-password": "tenant"}


async def test_service_account_token_secrets_are_neither_read_nor_written(
    kube: KubeClient, namespace: str
) -> None:
    await kube.create(SERVICE_ACCOUNTS.path(namespace), {"metadata": {"name": "robot"}})
    await kube.create(
        SECRETS.path(namespace),
        {
            "metadata": {
                "name": "robot-token",
                "annotations": {"kubernetes.io/service-account.name": "robot"},
            },
            "type": "kubernetes.io/service-account-token",
        },
    )

    async def token_issued() -> bool:
        secret = await kit.get_secret(kube, namespace, "robot-token")
        return bool(((secret or {}).get("data") or {}).get("token"))

    await kit.eventually(token_issued, timeout=30)
    before = await kit.get_secret(kube, namespace, "robot-token")
    assert before is not None
    async with kit.controller(kube, namespace):
        await kit.put_secret(kube, namespace, "src", {"t": "forged"}, manager="vso")
        writer = kit.sync_spec("robot-token", {"token": ("src", "t")}, force=True)
        await kit.apply_sync(kube, namespace, "writer", writer)
        reader = kit.sync_spec("copy", {"token": ("robot-token", "token")})
        await kit.apply_sync(kube, namespace, "reader", reader)

        wrote = await kit.wait_condition(kube, namespace, "writer", "Ready", status="False")
        assert kit.condition(wrote, "Ready")["reason"] == "TargetNotAllowed"
        read = await kit.wait_condition(kube, namespace, "reader", "Ready", status="False")
        assert kit.condition(read, "Ready")["reason"] == "InvalidReference"
        assert "ServiceAccount token" in kit.condition(read, "Ready")["message"]
        await asyncio.sleep(1)
        after = await kit.get_secret(kube, namespace, "robot-token")
        assert after is not None
        assert after["data"] == before["data"]
        assert await kit.get_secret(kube, namespace, "copy") is None


async def test_a_forged_secretloom_manager_is_repaired_as_drift(
    kube: KubeClient, namespace: str
) -> None:
    async with kit.controller(kube, namespace):
        await kit.put_secret(kube, namespace, "src", {"k": "mine"}, manager="vso")
        await kit.apply_sync(kube, namespace, "honest", kit.sync_spec(TARGET, {"k": ("src", "k")}))
        await kit.wait_condition(kube, namespace, "honest", "Ready")
        forged = f"secretloom/{namespace}/ghost"
        await kit.put_secret(kube, namespace, TARGET, {"k": "forged"}, manager=forged)

        async def repaired() -> bool:
            secret = await kit.get_secret(kube, namespace, TARGET)
            return kit.values(secret).get("k") == "mine"

        await kit.eventually(repaired)
        secret = await kit.get_secret(kube, namespace, TARGET)
        assert secret is not None
        assert kit.owners(secret)[f"secretloom/{namespace}/honest"] == {"k"}
        events = await kit.events_for(kube, namespace, "honest")
        assert any(e["reason"] == "DriftCorrected" for e in events)


async def test_two_forcing_secretsyncs_settle_on_the_older_without_flapping(
    kube: KubeClient, namespace: str
) -> None:
    async with kit.controller(kube, namespace):
        await kit.put_secret(kube, namespace, "src", {"a": "older", "b": "younger"}, manager="vso")
        older = kit.sync_spec(TARGET, {"k": ("src", "a")}, force=True)
        await kit.apply_sync(kube, namespace, "older", older)
        await kit.wait_condition(kube, namespace, "older", "Ready")
        await asyncio.sleep(1.1)  # creation timestamps have one-second resolution
        younger = kit.sync_spec(TARGET, {"k": ("src", "b")}, force=True)
        await kit.apply_sync(kube, namespace, "younger", younger)
        yielded = await kit.wait_condition(kube, namespace, "younger", "Conflict")
        assert f"secretloom/{namespace}/older" in kit.condition(yielded, "Conflict")["message"]
        async with kit.TargetWatch(kube, namespace, TARGET) as watch:
            await asyncio.sleep(5)
        assert watch.writes == []
        assert kit.values(await kit.get_secret(kube, namespace, TARGET)) == {"k": "older"}
