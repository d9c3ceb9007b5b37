"""Aggregated targets (issue 17) on the real control plane: many SecretSyncs, one field manager.

The threshold is lowered to 3 so a handful of SecretSyncs aggregate. Each test
judges by what the API server says: managedFields, the owners annotation, the
watch stream, conditions.
"""

from __future__ import annotations

import asyncio
import json

from secretloom.cli.owners import ownership
from secretloom.runtime.kube import KubeClient, Obj
from secretloom.runtime.meta import OWNERS_ANNOTATION
from secretloom.runtime.resources import SECRET_SYNCS
from tests.e2e import kit

TARGET = "shared"
AGGREGATED = 3  # --aggregate-writers in these tests


def aggregate_manager(namespace: str) -> str:
    return f"secretloom-target/{namespace}/{TARGET}"


def record(secret: Obj | None) -> dict[str, str]:
    annotations = ((secret or {}).get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(OWNERS_ANNOTATION)
    return json.loads(raw) if raw else {}


async def seed(kube: KubeClient, namespace: str, writers: int) -> None:
    """Helm's shell holding its own key, and `writers` SecretSyncs with one key each."""
    await kit.put_secret(kube, namespace, TARGET, {"helm-key": "h"}, manager="helm")
    for i in range(writers):
        await kit.put_secret(kube, namespace, f"src-{i}", {"v": f"v{i}-0"}, manager="vso")
        await kit.apply_sync(
            kube, namespace, f"sync-{i}", kit.sync_spec(TARGET, {f"k-{i}": (f"src-{i}", "v")})
        )


async def all_values(kube: KubeClient, namespace: str, expected: dict[str, str]) -> None:
    async def landed() -> bool:
        return kit.values(await kit.get_secret(kube, namespace, TARGET)) == expected

    await kit.eventually(landed, timeout=15)


def expected(writers: int, round_: int = 0) -> dict[str, str]:
    return {"helm-key": "h", **{f"k-{i}": f"v{i}-{round_}" for i in range(writers)}}


async def test_one_manager_owns_every_key_and_the_record_names_each_owner(
    kube: KubeClient, namespace: str
) -> None:
    await seed(kube, namespace, 6)  # all present at start: aggregated from the first write
    async with kit.controller(kube, namespace, aggregate_writers=AGGREGATED):
        await all_values(kube, namespace, expected(6))
        for i in range(6):
            await kit.wait_condition(kube, namespace, f"sync-{i}", "Ready")
        target = await kit.get_secret(kube, namespace, TARGET)
        owners = kit.owners(target or {})
        assert owners[aggregate_manager(namespace)] == {f"k-{i}" for i in range(6)}
        assert owners["helm"] == {"helm-key"}  # the other writer's key is its own
        assert not [m for m in owners if m.startswith(f"secretloom/{namespace}/")]
        assert record(target) == {f"k-{i}": f"sync-{i}" for i in range(6)}
        shown = ownership(target or {}).keys  # `secretloom owners`
        assert shown["k-3"] == [f"{aggregate_manager(namespace)} (SecretSync sync-3)"]
        assert shown["helm-key"] == ["helm"]

        # Changes coalesce: all six sources at once, every value lands, fewer or equal writes.
        async with kit.TargetWatch(kube, namespace, TARGET) as watch:
            await asyncio.gather(
                *(
                    kit.put_secret(kube, namespace, f"src-{i}", {"v": f"v{i}-1"}, manager="vso")
                    for i in range(6)
                )
            )
            await all_values(kube, namespace, expected(6, 1))
            await asyncio.sleep(1)
            assert 1 <= len(watch.writes) <= 6
            for written in watch.writes:  # never a write that lost a key
                assert set(kit.values(written)) == set(expected(6))
            at_rest = len(watch.writes)
            await asyncio.sleep(4)
            assert len(watch.writes) == at_rest  # zero writes at rest

    # A warm restart writes nothing.
    async with kit.TargetWatch(kube, namespace, TARGET) as watch:
        async with kit.controller(kube, namespace, aggregate_writers=AGGREGATED):
            await asyncio.sleep(4)
        assert watch.writes == []


async def test_conflicts_between_aggregated_syncs_and_with_other_writers(
    kube: KubeClient, namespace: str
) -> None:
    await seed(kube, namespace, 4)  # all present at start: aggregated from the first write
    async with kit.controller(kube, namespace, aggregate_writers=AGGREGATED):
        await all_values(kube, namespace, expected(4))
        # A fifth SecretSync claims sync-0's key: reported, not fought, value unchanged.
        await kit.put_secret(kube, namespace, "rogue-src", {"v": "rogue"}, manager="vso")
        await kit.apply_sync(
            kube, namespace, "rogue", kit.sync_spec(TARGET, {"k-0": ("rogue-src", "v")})
        )
        rogue = await kit.wait_condition(kube, namespace, "rogue", "Conflict")
        message = kit.condition(rogue, "Conflict")["message"]
        assert f"secretloom/{namespace}/sync-0" in message and "k-0" in message
        assert kit.values(await kit.get_secret(kube, namespace, TARGET))["k-0"] == "v0-0"
        assert record(await kit.get_secret(kube, namespace, TARGET))["k-0"] == "sync-0"

        # Another writer changes an aggregated key: taken back as drift.
        await kit.put_secret(kube, namespace, TARGET, {"k-1": "tampered"}, manager="intruder")
        await all_values(kube, namespace, expected(4))
        events = await kit.events_for(kube, namespace, "sync-1")
        assert any(e["reason"] == "DriftCorrected" for e in events)

        # A key an other writer holds from the start is yielded to it: Conflict, its value kept.
        await kit.put_secret(kube, namespace, TARGET, {"foreign": "theirs"}, manager="intruder")
        await kit.put_secret(kube, namespace, "f-src", {"v": "ours"}, manager="vso")
        await kit.apply_sync(
            kube, namespace, "wants-foreign", kit.sync_spec(TARGET, {"foreign": ("f-src", "v")})
        )
        wants = await kit.wait_condition(kube, namespace, "wants-foreign", "Conflict")
        assert "intruder" in kit.condition(wants, "Conflict")["message"]
        final = await kit.get_secret(kube, namespace, TARGET)
        assert kit.values(final)["foreign"] == "theirs"
        assert kit.values(final)["k-0"] == "v0-0"


async def test_deleting_a_sync_removes_exactly_its_key(kube: KubeClient, namespace: str) -> None:
    await seed(kube, namespace, 5)  # all present at start: aggregated from the first write
    async with kit.controller(kube, namespace, aggregate_writers=AGGREGATED):
        await all_values(kube, namespace, expected(5))
        await kube.delete(SECRET_SYNCS.path(namespace, "sync-2"))

        async def finalized() -> bool:
            items, _ = await kube.list(SECRET_SYNCS.path(namespace))
            return "sync-2" not in {i["metadata"]["name"] for i in items}

        await kit.eventually(finalized)
        left = {k: v for k, v in expected(5).items() if k != "k-2"}
        await all_values(kube, namespace, left)
        target = await kit.get_secret(kube, namespace, TARGET)
        assert "sync-2" not in record(target).values()
        assert kit.owners(target or {})[aggregate_manager(namespace)] == {
            "k-0",
            "k-1",
            "k-3",
            "k-4",
        }


async def test_switching_modes_keeps_every_key(kube: KubeClient, namespace: str) -> None:
    # Per-SecretSync managers first (aggregation off) ...
    async with kit.controller(kube, namespace, aggregate_writers=0):
        await seed(kube, namespace, 4)
        await all_values(kube, namespace, expected(4))
        owners = kit.owners(await kit.get_secret(kube, namespace, TARGET) or {})
        assert owners[f"secretloom/{namespace}/sync-0"] == {"k-0"}
    # ... then aggregated: each key moves to the aggregated manager as it changes.
    async with kit.controller(kube, namespace, aggregate_writers=AGGREGATED):
        async with kit.TargetWatch(kube, namespace, TARGET) as watch:
            await asyncio.sleep(2)
            assert watch.writes == []  # nothing moves at rest
            for i in range(4):
                await kit.put_secret(kube, namespace, f"src-{i}", {"v": f"v{i}-1"}, manager="vso")
            await all_values(kube, namespace, expected(4, 1))
            for written in watch.writes:
                assert set(kit.values(written)) == set(expected(4))

        async def moved() -> bool:
            owners = kit.owners(await kit.get_secret(kube, namespace, TARGET) or {})
            return owners.get(aggregate_manager(namespace)) == {
                f"k-{i}" for i in range(4)
            } and not [
                m for m, keys in owners.items() if m.startswith(f"secretloom/{namespace}/") and keys
            ]

        await kit.eventually(moved, timeout=15)
        assert record(await kit.get_secret(kube, namespace, TARGET)) == {
            f"k-{i}": f"sync-{i}" for i in range(4)
        }
    # ... and back: below half the threshold each key returns to its own manager as it changes.
    async with kit.controller(kube, namespace, aggregate_writers=0):
        for i in range(4):
            await kit.put_secret(kube, namespace, f"src-{i}", {"v": f"v{i}-2"}, manager="vso")
        await all_values(kube, namespace, expected(4, 2))

        async def back() -> bool:
            target = await kit.get_secret(kube, namespace, TARGET) or {}
            owners = kit.owners(target)
            return not record(target) and all(
                owners.get(f"secretloom/{namespace}/sync-{i}") == {f"k-{i}"} for i in range(4)
            )

        await kit.eventually(back, timeout=15)
        assert not kit.owners(await kit.get_secret(kube, namespace, TARGET) or {}).get(
            aggregate_manager(namespace)
        )
        assert kit.values(await kit.get_secret(kube, namespace, TARGET)) == expected(4, 2)
