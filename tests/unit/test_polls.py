"""Background store polls: one namespace never takes every slot, however many of its polls hang."""

from __future__ import annotations

import asyncio

import pytest

from secretloom.controllers.secretsync.polls import Polls


async def test_a_hung_namespace_holds_at_most_its_share_of_the_slots() -> None:
    polls = Polls(total=4, per_namespace=2)
    hung = asyncio.Event()  # never set: a store that never answers
    started: list[str] = []

    async def poll(name: str, wait: asyncio.Event | None) -> None:
        started.append(name)
        if wait is not None:
            await wait.wait()

    for i in range(10):
        polls.start("attacker", poll(f"attacker-{i}", hung))
    await asyncio.sleep(0.01)
    assert started == ["attacker-0", "attacker-1"]  # the rest wait for the namespace's slots
    victim = polls.start("victim", poll("victim", None))
    await asyncio.wait_for(victim, 1)  # a free global slot, at once
    assert started[-1] == "victim"
    assert polls.running("attacker") == 10 and polls.running("victim") == 0

    for i in range(2):
        polls.start(f"other-{i}", poll(f"other-{i}", hung))
    await asyncio.sleep(0.01)
    assert {"other-0", "other-1"} <= set(started)  # 2 + 2 = every global slot in use
    late = polls.start("late", poll("late", None))
    await asyncio.sleep(0.01)
    assert "late" not in started  # the global bound holds too
    await polls.close()
    assert late.cancelled() and polls.running() == 0


async def test_a_cancelled_poll_frees_its_slot() -> None:
    polls = Polls(total=1, per_namespace=1)
    hung = asyncio.Event()

    async def hang() -> None:
        await hung.wait()

    first = polls.start("ns", hang())
    await asyncio.sleep(0)
    second = polls.start("ns", asyncio.sleep(0))
    first.cancel()  # e.g. its SecretSync was deleted
    await asyncio.wait_for(second, 1)
    assert polls.running() == 0


def test_slot_counts_must_make_sense() -> None:
    with pytest.raises(ValueError, match="per_namespace"):
        Polls(total=2, per_namespace=3)
