"""SharedReads: one read per value for every SecretSync that names it (issue 16)."""

from __future__ import annotations

import asyncio

import pytest

from secretloom.controllers.secretsync.shared import SharedReads
from secretloom.providers.protocol import Unavailable


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_reads_of_one_key_make_one_call() -> None:
    calls = 0
    gate = asyncio.Event()

    async def fetch() -> bytes:
        nonlocal calls
        calls += 1
        await gate.wait()
        return b"v"

    shared = SharedReads(Clock())
    waiting = [asyncio.create_task(shared.read("k", fetch, max_age=30)) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiting) == [b"v"] * 50
    assert calls == 1 and shared.started == 1


async def test_a_finished_read_is_reused_within_max_age_only() -> None:
    clock, calls = Clock(), []

    async def fetch() -> int:
        calls.append(clock.now)
        return len(calls)

    shared = SharedReads(clock)
    assert await shared.read("k", fetch, max_age=30) == 1
    clock.now += 29
    assert await shared.read("k", fetch, max_age=30) == 1
    assert await shared.read("other", fetch, max_age=30) == 2  # another value: its own read
    clock.now += 2
    assert await shared.read("k", fetch, max_age=30) == 3  # 31 s old: read again
    assert await shared.read("k", fetch, max_age=0) == 4  # a refresh request: read now


async def test_failures_are_shared_only_while_in_flight() -> None:
    clock, calls = Clock(), 0

    async def fetch() -> bytes:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Unavailable("store down")
        return b"back"

    shared = SharedReads(clock)
    with pytest.raises(Unavailable):
        await shared.read("k", fetch, max_age=30)
    assert await shared.read("k", fetch, max_age=30) == b"back"
    assert calls == 2


async def test_old_reads_are_dropped() -> None:
    clock = Clock()

    async def fetch() -> bytes:
        return b"v"

    shared = SharedReads(clock)
    for index in range(100):
        await shared.read(index, fetch, max_age=30)
    clock.now += 31
    await shared.read("new", fetch, max_age=30)
    assert len(shared) == 1
