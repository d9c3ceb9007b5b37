"""The churn's checker can fail: it sees a blanked, foreign or rolled-back key, and a lost one.

A fault suite whose checker never fires proves nothing, so each defect it
looks for is made here by hand, on the real API server, and must be reported.
"""

from __future__ import annotations

import asyncio
import base64

from bench import chaos, workload

from secretloom.runtime.kube import KubeClient
from secretloom.runtime.resources import SECRETS
from tests.e2e import kit


def value(index: int, seq: int) -> str:
    """What a target holds for value `seq` of Kubernetes source `index`."""
    return base64.b64encode(chaos.stamp(index, seq, "x").encode()).decode()


async def put_target(kube: KubeClient, namespace: str, data: dict[str, str]) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "tgt", "namespace": namespace, "labels": {workload.ROLE: "target"}},
        "data": data,
    }
    await kube.apply(SECRETS.path(namespace, "tgt"), body, field_manager="writer", force=True)


async def test_the_target_log_reports_every_kind_of_broken_key(
    kube: KubeClient, namespace: str
) -> None:
    track = chaos.Track("tgt", "k", 3, store=False, attempted={1, 2, 3})
    await put_target(kube, namespace, {"k": value(3, 1)})
    log = chaos.TargetLog(kube, namespace, [track])
    await log.start()
    try:
        for data in (
            {"k": value(3, 3)},  # an advance
            {"k": value(3, 2)},  # rolled back
            {"k": value(4, 3)},  # another source's value
            {"k": value(3, 7)},  # a value the source was never given
            {},  # the key removed
        ):
            await put_target(kube, namespace, data)

        async def all_seen() -> bool:
            return len(log.incidents) == 4

        await kit.eventually(all_seen)
        await asyncio.sleep(0.2)  # nothing more arrives
    finally:
        await log.stop()
    assert [(i.kind, i.detail) for i in log.incidents] == [
        ("stale", "3 -> 2"),
        ("foreign", "not a value of this source"),
        ("foreign", "7 was never written"),
        ("blanked", "after 3"),
    ]
    assert [seq for seq, _ in track.advances] == [1, 3]


def test_a_key_behind_its_source_is_lost_and_any_other_value_is_wrong() -> None:
    truth = {("t", "a"): value(1, 5), ("t", "b"): value(2, 5), ("t", "c"): value(3, 5)}
    truth |= {("t", "d"): value(4, 5), ("t", "e"): value(5, 5)}
    held = {
        ("t", "a"): value(1, 5),  # equal
        ("t", "b"): value(2, 4),  # behind: lost
        # c missing: lost
        ("t", "d"): value(9, 5),  # another source's: wrong
        ("t", "e"): value(5, 6),  # ahead of its source: wrong
    }
    assert chaos.classify(truth, held) == {
        ("t", "b"): ("lost", "holds 4, its source 5"),
        ("t", "c"): ("lost", "missing"),
        ("t", "d"): ("wrong", "holds 5, its source 5, not a value of this source"),
        ("t", "e"): ("wrong", "holds 6, its source 5"),
    }
