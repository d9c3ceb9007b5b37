"""What a reconcile reports: status, conditions and Events, from the plan and the outcome."""

from __future__ import annotations

from typing import Any

from secretloom.api import secretsync as api
from secretloom.controllers.secretsync import plan as p
from secretloom.controllers.secretsync import refresh, report
from secretloom.controllers.secretsync.reads import StoreReads
from tests.unit.test_plan import MISSING_B, OK_A, OK_B, observed, secret, synced

ROTATED_A = p.Resolved("a", "secret/s#a", value="Tg==", version="v2")


def build(
    resolved: list[p.Resolved],
    target: Any,
    previous: dict[str, api.KeyStatus] | None = None,
    **outcome: Any,
) -> tuple[p.Observed, p.Plan, report.Outcome, api.SecretSyncStatus]:
    seen = observed(resolved, target, previous)
    planned = p.plan(seen)
    done = report.Outcome(**({"result": "written"} | outcome))
    status = report.status(
        observed=seen,
        planned=planned,
        outcome=done,
        data_from=[],
        reads=None,
        reads_stores=False,
        contested=False,
    )
    return seen, planned, done, status


def notes(*args: Any, **outcome: Any) -> list[tuple[str, str, bool]]:
    seen, planned, done, status = build(*args, **outcome)
    found = report.events(
        observed=seen, planned=planned, outcome=done, keys=status.keys, drift_window=60
    )
    return [(n.reason, n.message, n.warning) for n in found]


def test_the_status_counts_owned_keys_and_marks_conflicts() -> None:
    _, _, _, status = build([OK_A, OK_B], secret({}), conflicting={"b": "helm"}, result="conflict")
    assert status.field_manager == "secretloom/ns/sync"
    assert status.observed_generation == 3
    assert {k.key: k.state for k in status.keys} == {"a": "Synced", "b": "Conflict"}
    assert status.key_count == 1
    assert status.last_refresh_time == "" and status.refresh_request == ""


def test_refresh_times_come_only_from_reads_made_for_this_spec() -> None:
    seen = observed([OK_A], secret({"a": "QQ=="}))
    reads = refresh.Remembered(StoreReads({}), refresh.Ask(3, "tag"), 1.0, "T1", "T2")
    status = report.status(
        observed=seen,
        planned=p.plan(seen),
        outcome=report.Outcome("unchanged"),
        data_from=[],
        reads=reads,
        reads_stores=True,
        contested=False,
    )
    assert (status.last_refresh_time, status.next_refresh_time) == ("T1", "T2")
    assert status.refresh_request == "tag"
    assert {c.type for c in status.conditions} == {*p.CONDITION_TYPES, p.PROVIDER_CONDITION}


def test_a_refused_apply_is_apply_failed_and_the_keys_keep_their_synced_version() -> None:
    previous = {"a": synced("a"), "b": synced("b")}
    refusal = '422 Invalid: Secret "t" is invalid: data: Too long: must have at most 1048576 bytes'
    _, planned, _, status = build(
        [ROTATED_A, OK_B],
        secret({"a": "QQ==", "b": "Qg=="}),
        previous,
        result="error",
        error=refusal,
    )
    assert planned.changed == {"a"}
    ready = status.conditions[0]
    assert (ready.type, ready.status, ready.reason) == ("Ready", "False", p.APPLY_FAILED)
    assert ready.message == f"the API server refused the apply: {refusal}"
    keys = {k.key: k for k in status.keys}
    assert (keys["a"].state, keys["a"].source_version) == ("Error", "v1")  # not v2: not written
    assert "refused" in keys["a"].message
    assert keys["b"].state == "Synced"
    assert p.owned_keys(keys) == {"a", "b"}  # still ours: never dropped, never taken for drift


def test_contested_stays_while_the_window_lasts() -> None:
    def contested(drift_keys: list[str], still: bool) -> Any:
        conditions = p.conditions(
            generation=1,
            keys=[],
            problems=[],
            conflicting={},
            contested=drift_keys,
            still_contested=still,
            target_missing=False,
            target_name="t",
        )
        return next(c for c in conditions if c.type == "Contested")

    assert contested([], still=False).status == "False"
    now = contested(["token"], still=True)
    assert (now.status, now.reason) == ("True", "DriftKeepsReturning")
    assert "token" in now.message
    quiet = contested([], still=True)  # no drift this time, but the window is open
    assert quiet.status == "True"
    assert quiet.message == "another writer keeps changing owned keys"


def test_synced_event_on_the_first_sync_and_on_rotations_only() -> None:
    first = notes([OK_A, OK_B], None)
    assert first == [("Synced", "synced 2 key(s) to Secret 't'", False)]
    previous = {"a": synced("a"), "b": synced("b")}
    rotated = notes(
        [ROTATED_A, OK_B], secret({"a": "QQ==", "b": "Qg=="}), previous, written=frozenset({"a"})
    )
    assert rotated == [("Synced", "updated key(s) ['a'] in Secret 't'", False)]
    at_rest = notes([OK_A, OK_B], secret({"a": "QQ==", "b": "Qg=="}), previous, result="unchanged")
    assert at_rest == []


def test_warnings_for_refusals_drift_conflicts_and_problems() -> None:
    previous = {"a": synced("a"), "b": synced("b")}
    refused = notes(
        [ROTATED_A, OK_B],
        secret({"a": "QQ=="}),
        previous,
        result="error",
        error="403 Forbidden: no",
    )
    assert refused == [(p.APPLY_FAILED, "Secret 't' was not written: 403 Forbidden: no", True)]
    drift = notes(
        [OK_A],
        secret({"a": "x"}),
        previous,
        corrected=frozenset({"a"}),
        writers=("kubectl",),
        corrections=2,
    )
    assert drift[0] == (
        "DriftCorrected",
        "restored key(s) ['a'] changed by kubectl (correction 2 in the last 60s)",
        True,
    )
    conflict = notes(
        [OK_A, MISSING_B], secret({}), previous, result="conflict", conflicting={"a": "helm"}
    )
    assert [n[0] for n in conflict] == ["Conflict", "SourceMissing"]
    assert all(n[2] for n in conflict)


def test_earliest_ignores_unset_delays() -> None:
    assert report.earliest(None, None) is None
    assert report.earliest(None, 5.0, 2.0) == 2.0
    assert report.earliest(-1.0) == 0.0
