"""One memory record per SecretSync: drift backoff, deferred versions, forgotten in one step."""

from __future__ import annotations

import asyncio

from secretloom.controllers.secretsync.drift import Corrections, DriftPolicy
from secretloom.controllers.secretsync.memory import Memories, Poll
from secretloom.controllers.secretsync.refresh import Ask


def test_corrections_back_off_exponentially_and_contested_follows_the_window() -> None:
    now = 1000.0
    history = Corrections(DriftPolicy(base=1, cap=8, window=60, contested_after=3))
    assert history.wait(now) == 0
    history.record(now)
    assert history.wait(now) == 1
    now += 1
    history.record(now)
    assert history.wait(now) == 2
    assert not history.contested(now)
    now += 2
    history.record(now)
    assert history.contested(now)
    assert history.wait(now) == 4
    for _ in range(5):
        now += history.wait(now)
        history.record(now)
    assert history.wait(now) == 8  # capped
    now += 61
    assert not history.contested(now)
    assert history.wait(now) == 0


async def test_a_record_holds_everything_and_is_forgotten_in_one_step() -> None:
    memories = Memories(DriftPolicy(), persist_after=30)
    a, b = memories.of(("ns", "a")), memories.of(("ns", "b"))
    assert memories.of(("ns", "a")) is a  # one record per SecretSync
    assert a.versions.persist_after == 30
    a.corrections.record(10.0)
    a.source_seen, a.poll_failures, a.apply_failures = 1.0, 3, 2
    poll = asyncio.create_task(asyncio.sleep(60))
    a.poll = Poll(poll, Ask(1, ""))
    assert b.corrections.wait(10.0) == 0  # records are independent

    memories.forget(("ns", "a"))
    await asyncio.sleep(0)
    assert poll.cancelled()  # the poll in flight goes with the record
    assert memories.get(("ns", "a")) is None
    fresh = memories.of(("ns", "a"))
    assert fresh is not a
    assert (fresh.source_seen, fresh.poll_failures, fresh.apply_failures) == (None, 0, 0)
    assert fresh.corrections.wait(10.0) == 0 and fresh.reads is None and fresh.poll is None
    memories.close()
    assert len(memories) == 0
