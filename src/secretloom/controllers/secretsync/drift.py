"""Backoff for restoring keys another writer keeps changing.

Restoring an owned key is right once; against a writer that re-edits every
100 ms it must not become a tight loop (Kyverno #7882, ESO #2033). Each
SecretSync gets an exponential backoff between corrections (1 s doubling to
5 min) and is `Contested` while it had at least `contested_after` corrections
inside `window`. Contested is a function of time, not of the last observation,
so the condition does not flip on every event. The state is in memory: a
restarted controller corrects once more, then backs off again.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Hashable

Clock = Callable[[], float]


class DriftTracker:
    def __init__(
        self,
        *,
        base: float = 1.0,
        cap: float = 300.0,
        window: float = 60.0,
        contested_after: int = 3,
        clock: Clock = time.monotonic,  # for tests
    ) -> None:
        self._base = base
        self._cap = cap
        self._window = window
        self._contested_after = contested_after
        self._clock = clock
        self._corrections: dict[Hashable, collections.deque[float]] = {}

    def _recent(self, key: Hashable) -> collections.deque[float]:
        history = self._corrections.setdefault(key, collections.deque())
        now = self._clock()
        while history and now - history[0] > self._window:
            history.popleft()
        if not history:
            del self._corrections[key]
        return history

    def wait(self, key: Hashable) -> float:
        """Seconds until the next correction is allowed (0: now)."""
        history = self._recent(key)
        if not history:
            return 0.0
        backoff = min(self._base * 2.0 ** (len(history) - 1), self._cap)
        return max(0.0, history[-1] + backoff - self._clock())

    def record(self, key: Hashable) -> int:
        """Note a correction; returns how many happened inside the window."""
        history = self._recent(key)
        history.append(self._clock())
        self._corrections[key] = history
        return len(history)

    def contested(self, key: Hashable) -> bool:
        return len(self._recent(key)) >= self._contested_after

    def window(self) -> float:
        return self._window

    def forget(self, key: Hashable) -> None:
        self._corrections.pop(key, None)
