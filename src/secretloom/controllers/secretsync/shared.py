"""One store read shared by every SecretSync that names the same value (issue 16).

A thousand SecretSyncs on a hundred secrets, each polling on its own schedule,
made a thousand provider calls per interval; the issue's goal is about one per
distinct secret. Reads are therefore keyed by what they ask (the store, its
generation, the operation and the `ValueRef`), and a poll takes a read of the
same key when it is:

* in flight: the poll awaits it (single flight), or
* finished successfully, and started no earlier than the poll allows
  (`not_before`): a routine poll accepts a read up to half its own refresh
  interval old, so a rotated value still reaches every target within one
  and a half intervals, and a secret is read about twice per interval
  however many SecretSyncs name it. A poll for a changed spec or a new
  refresh annotation (`max_age` 0) always reads: the annotation means "read
  now".

Failures are shared only while in flight: the next poll after a failure reads
again (its own backoff), so a shared error never outlives its call. Entries
hold values, like the remembered reads of each SecretSync; finished ones are
dropped once older than the longest reuse window asked for, so the table
stays as small as the set of values read in one interval.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

_MAX_KEEP = 24 * 3600.0


@dataclass
class _Read:
    started: float
    task: asyncio.Task[Any]


class SharedReads:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._reads: dict[Hashable, _Read] = {}
        self._keep = 0.0
        self.started = 0  # reads really made, for tests and benchmarks

    async def read(
        self, key: Hashable, fetch: Callable[[], Awaitable[Any]], *, max_age: float
    ) -> Any:
        """`fetch()`'s result, or that of a read of `key` at most `max_age` seconds old."""
        now = self._clock()
        self._keep = min(max(self._keep, max_age), _MAX_KEEP)
        self._prune(now)
        shared = self._reads.get(key)
        if shared is None or max_age <= 0 or not self._usable(shared, now - max_age):
            shared = _Read(now, asyncio.ensure_future(fetch()))
            shared.task.add_done_callback(_retrieve)
            self._reads[key] = shared
            self.started += 1
        # shield: one poll cancelled (its SecretSync changed) leaves the read to the others.
        return await asyncio.shield(shared.task)

    @staticmethod
    def _usable(shared: _Read, not_before: float) -> bool:
        if shared.started < not_before:
            return False
        task = shared.task
        return not task.done() or (not task.cancelled() and task.exception() is None)

    def _prune(self, now: float) -> None:
        stale = [
            key
            for key, shared in self._reads.items()
            if shared.task.done() and shared.started < now - self._keep
        ]
        for key in stale:
            del self._reads[key]

    def __len__(self) -> int:
        return len(self._reads)


def _retrieve(task: asyncio.Task[Any]) -> None:
    """A failure nobody awaits any more is not an 'exception never retrieved'."""
    if not task.cancelled():
        task.exception()
