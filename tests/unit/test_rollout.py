"""Rollout restart decisions (issue 14): once per effective change, debounced, never for nothing."""

from __future__ import annotations

import datetime

from secretloom.api import secretsync as api
from secretloom.controllers.secretsync import rollout as r

T0 = datetime.datetime(2026, 12, 4, 12, 0, 0, 250_000, tzinfo=datetime.UTC)
SYNCED = {"a": api.KeyStatus(key="a", source="secret/s#a", source_version="v1")}


def later(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def test_only_a_changed_value_already_given_to_consumers_is_an_effective_change() -> None:
    assert r.effective_change(frozenset({"a"}), SYNCED)
    assert not r.effective_change(frozenset(), SYNCED)  # nothing written: a no-op refresh
    assert not r.effective_change(frozenset({"a"}), {})  # the first sync
    pending = {"a": api.KeyStatus(key="a", source="s", state="SourceMissing")}
    assert not r.effective_change(frozenset({"a"}), pending)


def test_a_burst_keeps_the_first_change_time_and_restarts_once_after_the_debounce() -> None:
    state = r.advance(None, changed=True, now=T0)
    assert state.pending_since == "2026-12-04T12:00:00.250000Z"
    for second in range(1, 10):  # more changes within the window move nothing
        state = r.advance(state, changed=True, now=later(second))
    assert state.pending_since == "2026-12-04T12:00:00.250000Z"
    assert r.due_in(state, 10.0, later(4)) == 6.0
    assert r.due_in(state, 10.0, later(11)) == 0.0


def test_nothing_is_pending_without_a_change() -> None:
    state = r.advance(None, changed=False, now=T0)
    assert state == api.RolloutStatus()
    assert r.due_in(state, 10.0, T0) is None
    stamp = "2026-12-04T12:00:00.250000Z"
    done = api.RolloutStatus(pending_since=stamp, restarted=stamp)
    assert r.due_in(r.advance(done, changed=False, now=later(60)), 10.0, later(60)) is None
    # The next change after a restart opens a new pending restart, with a new value.
    again = r.advance(done, changed=True, now=later(61))
    assert again.pending and again.pending_since != stamp


def test_annotation_keys_stay_valid_for_long_names() -> None:
    assert r.annotation_key("app") == "rollout.secretloom.io/app"
    long = r.annotation_key("a" * 200)
    assert len(long.split("/", 1)[1]) == 63
    assert long != r.annotation_key("a" * 199)


def test_a_workload_opts_in_by_naming_the_target() -> None:
    def workload(value: str) -> dict[str, object]:
        return {"metadata": {"annotations": {api.RESTART_ON_CHANGE_ANNOTATION: value}}}

    assert r.opted_in(workload("db, cache"), "cache")
    assert not r.opted_in(workload("database"), "db")
    assert not r.opted_in({"metadata": {}}, "db")


def test_a_pending_since_without_fractional_seconds_is_read_not_raised() -> None:
    # Anyone with status-write access may write pendingSince; RFC 3339 to the second
    # (or with an offset, or nanoseconds) is still a time, so the reconcile carries on.
    for stamp in (
        "2026-12-04T12:00:00Z",
        "2026-12-04T14:00:00+02:00",
        "2026-12-04T12:00:00.000000001Z",
    ):
        state = r.advance(api.RolloutStatus(pending_since=stamp), changed=True, now=later(4))
        assert state.pending_since == stamp
        assert r.due_in(state, 10.0, later(4)) == 5.75
        assert r.due_in(state, 10.0, later(11)) == 0.0


def test_an_unreadable_or_future_pending_since_starts_the_debounce_afresh() -> None:
    for stamp in ("yesterday", "2026-12-04T12:00:00", "2026-12-04", "2027-01-01T00:00:00Z"):
        for changed in (True, False):  # the restart it stood for is kept, not dropped
            state = r.advance(api.RolloutStatus(pending_since=stamp), changed=changed, now=T0)
            assert state.pending_since == "2026-12-04T12:00:00.250000Z", (stamp, changed)
            assert r.due_in(state, 10.0, later(4)) == 6.0
    # Read on its own, an unreadable value is never due at once, and never an error.
    assert r.due_in(api.RolloutStatus(pending_since="yesterday"), 10.0, T0) == 10.0
    # Not pending (it is what was restarted for): left as it is, whatever it holds.
    done = api.RolloutStatus(pending_since="yesterday", restarted="yesterday")
    assert r.advance(done, changed=False, now=T0) == done
