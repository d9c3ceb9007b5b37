"""A rate-limited work queue with client-go's guarantees.

- Duplicate adds of a waiting key collapse into one.
- A key is never handed to two workers at once: a key added while it is being
  processed is parked ("dirty") and re-queued once, when `done` is called.
- Delayed adds keep only the earliest due time per key, so a flood of
  `add_after` calls for one key arms one timer.
- Failures back off per key exponentially (5 ms doubling to 1000 s, as
  client-go's default), combined with a global token bucket (10 qps, burst
  100; `runtime/bucket.py`) so that a mass failure cannot become a retry
  storm; `forget` resets a key.
  A caller that keeps a key's failure count itself (the SecretSync reconciler
  keeps it in the object's memory record) asks `after(failures)` instead.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Hashable
from typing import Generic, TypeVar

from secretloom.runtime.bucket import TokenBucket

K = TypeVar("K", bound=Hashable)


class RateLimiter(Generic[K]):
    def __init__(
        self,
        base_delay: float = 0.005,
        max_delay: float = 1000.0,
        qps: float = 10.0,
        burst: int = 100,
    ) -> None:
        self._base = base_delay
        self._max = max_delay
        self._failures: dict[K, int] = collections.defaultdict(int)
        self._bucket = TokenBucket(qps, burst)

    def when(self, key: K) -> float:
        """Delay before retrying `key`: the larger of its backoff and the bucket's wait."""
        failures = self._failures[key]
        self._failures[key] = failures + 1
        return self.after(failures)

    def after(self, failures: int) -> float:
        """Delay after `failures` earlier failures of one key, with the global bucket's wait."""
        per_key = min(self._base * 2.0**failures, self._max)
        return max(per_key, self._bucket.reserve())

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)


class ShutDown(Exception):
    """The queue was shut down; workers should exit."""


class WorkQueue(Generic[K]):
    def __init__(self, rate_limiter: RateLimiter[K] | None = None) -> None:
        self._queue: collections.deque[K] = collections.deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._timers: dict[K, tuple[float, asyncio.TimerHandle]] = {}
        self._ready = asyncio.Event()
        self._shutting_down = False
        self.rate_limiter: RateLimiter[K] = rate_limiter or RateLimiter()

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # re-queued by done()
        self._queue.append(key)
        self._ready.set()

    def add_after(self, key: K, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        pending = self._timers.get(key)
        if pending is not None:
            if pending[0] <= due:
                return
            pending[1].cancel()
        self._timers[key] = (due, loop.call_at(due, self._fire, key))

    def add_rate_limited(self, key: K) -> None:
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: K) -> None:
        self.rate_limiter.forget(key)

    async def get(self) -> K:
        while not self._queue:
            if self._shutting_down:
                raise ShutDown
            self._ready.clear()
            await self._ready.wait()
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._ready.set()

    def shutdown(self) -> None:
        self._shutting_down = True
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._ready.set()

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)
