"""One token bucket: client-go's flowcontrol limiter, shared by the API client and the queues.

`qps` tokens a second, at most `burst` saved. Issue 11 found two copies: one
in front of every API request (`runtime/kube.py`, asynchronous, waits) and one
inside the work queues' retry limiter (`runtime/queue.py`, synchronous,
returns a delay). Both are the same bucket asked differently, so there is one:
`reserve` takes a token now and says how long the caller must wait before
using it (tokens may go negative, as client-go's `Reserve`, so callers that
reserve in turn are spaced `1/qps` apart without a lock); `acquire` reserves
and sleeps. `qps <= 0` means no limit.

Hand-written: the libraries on PyPI (aiolimiter, limits) are either
async-only or storage-backed, and this is twenty lines.
"""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """`qps` tokens a second, at most `burst` saved; `qps <= 0` never limits."""

    def __init__(self, qps: float, burst: int) -> None:
        self._qps = qps
        self._burst = float(burst)
        self._tokens = float(burst)
        self._last = time.monotonic()

    def reserve(self) -> float:
        """Take a token; the seconds to wait before using it (0.0 while the burst lasts)."""
        if self._qps <= 0:
            return 0.0
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._qps)
        self._last = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self._qps

    def try_take(self) -> bool:
        """Take a token if one is saved now; False, and nothing taken, otherwise."""
        if self._qps <= 0:
            return True
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._qps)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    async def acquire(self) -> None:
        """Take a token, waiting until it may be used."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)
