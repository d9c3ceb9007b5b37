"""Condition transition times move only when the status flips (no status write churn)."""

from __future__ import annotations

from secretloom.api.conditions import Condition, merge


def test_transition_time_is_kept_while_status_is_unchanged() -> None:
    before = [Condition(type="Ready", status="True", reason="Synced", last_transition_time="t0")]
    same = merge(before, [Condition(type="Ready", status="True", reason="Synced")], timestamp="t1")
    assert same[0].last_transition_time == "t0"
    flipped = merge(before, [Condition(type="Ready", status="False", reason="X")], timestamp="t1")
    assert flipped[0].last_transition_time == "t1"
    new = merge(
        [], [Condition(type="Conflict", status="False", reason="AsExpected")], timestamp="t2"
    )
    assert new[0].last_transition_time == "t2"
