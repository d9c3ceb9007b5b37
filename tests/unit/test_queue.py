"""Work queue guarantees: dedup, one key never on two workers, re-queue once, backoff."""

from __future__ import annotations

import asyncio

from secretloom.runtime.bucket import TokenBucket
from secretloom.runtime.queue import RateLimiter, ShutDown, WorkQueue


async def test_duplicate_adds_collapse() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for _ in range(5):
        queue.add("a")
    queue.add("b")
    assert len(queue) == 2
    assert await queue.get() == "a"
    assert await queue.get() == "b"


async def test_key_added_while_processing_is_requeued_once_after_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0  # not handed to a second worker while in flight
    queue.done(key)
    assert len(queue) == 1
    assert await queue.get() == "a"
    queue.done("a")
    assert len(queue) == 0


async def test_add_after_keeps_the_earliest_due_time() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("a", 10)
    queue.add_after("a", 0.01)
    queue.add_after("a", 5)
    assert await asyncio.wait_for(queue.get(), 1) == "a"


async def test_shutdown_releases_waiting_workers() -> None:
    queue: WorkQueue[str] = WorkQueue()
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.shutdown()
    try:
        await asyncio.wait_for(waiter, 1)
    except ShutDown:
        pass
    else:
        raise AssertionError("get() returned after shutdown")


def test_rate_limiter_backs_off_per_key_exponentially_and_forgets() -> None:
    limiter: RateLimiter[str] = RateLimiter(base_delay=0.01, max_delay=1.0, qps=1000, burst=1000)
    delays = [limiter.when("a") for _ in range(8)]
    assert delays[:4] == [0.01, 0.02, 0.04, 0.08]
    assert delays[-1] == 1.0
    assert limiter.when("b") == 0.01  # per key
    limiter.forget("a")
    assert limiter.when("a") == 0.01


def test_global_bucket_limits_a_mass_failure() -> None:
    limiter: RateLimiter[int] = RateLimiter(base_delay=0.0, qps=10, burst=5)
    delays = [limiter.when(i) for i in range(20)]
    assert delays[:5] == [0.0] * 5
    assert delays[-1] > 1.0  # 15 over the burst at 10 qps


def test_token_bucket_spaces_reservations_past_the_burst() -> None:
    bucket = TokenBucket(qps=10, burst=2)
    delays = [bucket.reserve() for _ in range(4)]
    assert delays[:2] == [0.0, 0.0]
    assert 0.09 < delays[2] <= 0.1  # one token short at 10 qps
    assert 0.19 < delays[3] <= 0.2  # the next waits behind it
    assert [TokenBucket(qps=0, burst=0).reserve() for _ in range(3)] == [0.0] * 3
