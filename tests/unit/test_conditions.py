"""Condition transition times move only when the status flips (no status write churn)."""

from __future__ import annotations

from secretloom.api.conditions import Condition, merge


def wire(**fields: str) -> dict[str, object]:
    return Condition.model_validate(fields).model_dump(by_alias=True, mode="json")


def test_transition_time_is_kept_while_status_is_unchanged() -> None:
    before = [wire(type="Ready", status="True", reason="Synced", lastTransitionTime="t0")]
    same = merge(before, [wire(type="Ready", status="True", reason="Synced")], timestamp="t1")
    assert same[0]["lastTransitionTime"] == "t0"
    flipped = merge(before, [wire(type="Ready", status="False", reason="X")], timestamp="t1")
    assert flipped[0]["lastTransitionTime"] == "t1"
    new = merge([], [wire(type="Conflict", status="False", reason="AsExpected")], timestamp="t2")
    assert new[0]["lastTransitionTime"] == "t2"
    assert Condition.model_validate(new[0]).reason == "AsExpected"  # still a valid condition
