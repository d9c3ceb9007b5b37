"""Drift backoff with a fake clock: exponential spacing, Contested by window, forgetting."""

from __future__ import annotations

from secretloom.controllers.secretsync.drift import DriftTracker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_corrections_back_off_exponentially_and_contested_follows_the_window() -> None:
    clock = Clock()
    tracker = DriftTracker(base=1, cap=8, window=60, contested_after=3, clock=clock)
    assert tracker.wait("k") == 0
    tracker.record("k")
    assert tracker.wait("k") == 1
    clock.now += 1
    tracker.record("k")
    assert tracker.wait("k") == 2
    assert not tracker.contested("k")
    clock.now += 2
    tracker.record("k")
    assert tracker.contested("k")
    assert tracker.wait("k") == 4
    for _ in range(5):
        clock.now += tracker.wait("k")
        tracker.record("k")
    assert tracker.wait("k") == 8  # capped
    clock.now += 61
    assert not tracker.contested("k")
    assert tracker.wait("k") == 0


def test_keys_are_independent_and_forgettable() -> None:
    tracker = DriftTracker(clock=Clock())
    tracker.record("a")
    assert tracker.wait("b") == 0
    tracker.forget("a")
    assert tracker.wait("a") == 0
