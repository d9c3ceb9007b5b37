"""Backoff for restoring keys another writer keeps changing.

Restoring an owned key is right once; against a writer that re-edits every
100 ms it must not become a tight loop (Kyverno #7882, ESO #2033). Each
SecretSync gets an exponential backoff between corrections (1 s doubling to
5 min) and is `Contested` while it had at least `contested_after` corrections
inside `window`. Contested is a function of time, not of the last observation,
so the condition does not flip on every event.

The history is part of the SecretSync's memory record (`memory`), forgotten
with it: a restarted controller corrects once more, then backs off again.
Times are the caller's monotonic clock, passed in, so the rules are tested
without waiting.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DriftPolicy:
    base: float = 1.0
    cap: float = 300.0
    window: float = 60.0
    contested_after: int = 3


@dataclass
class Corrections:
    """One SecretSync's corrections inside the policy's window, oldest first."""

    policy: DriftPolicy = field(default_factory=DriftPolicy)
    times: collections.deque[float] = field(default_factory=collections.deque)

    def _recent(self, now: float) -> int:
        while self.times and now - self.times[0] > self.policy.window:
            self.times.popleft()
        return len(self.times)

    def wait(self, now: float) -> float:
        """Seconds until the next correction is allowed (0: now)."""
        count = self._recent(now)
        if not count:
            return 0.0
        backoff = min(self.policy.base * 2.0 ** (count - 1), self.policy.cap)
        return max(0.0, self.times[-1] + backoff - now)

    def record(self, now: float) -> int:
        """Note a correction; returns how many happened inside the window."""
        self._recent(now)
        self.times.append(now)
        return len(self.times)

    def contested(self, now: float) -> bool:
        return self._recent(now) >= self.policy.contested_after
