"""After a 409: who keeps each key and what the second apply holds, decided without a cluster."""

from __future__ import annotations

from secretloom.api import secretsync as api
from secretloom.controllers.secretsync import plan as p
from tests.unit.test_plan import OK_A, OK_B, observed, secret, synced

OURS = p.Claim(p.Rank("2026-01-01T00:00:00Z", "ns", "sync"), force=False)
FORCING = p.Claim(OURS.rank, force=True)
OLDER_SYNC = p.Claim(p.Rank("2025-01-01T00:00:00Z", "ns", "old"), force=False)


def retry(
    target: dict[str, object],
    owners: dict[str, str],
    *,
    ours: p.Claim = OURS,
    holders: dict[str, p.Claim | None] | None = None,
    previous: dict[str, api.KeyStatus] | None = None,
) -> p.Retry:
    seen = observed([OK_A, OK_B], target, previous or {})
    return p.conflict_retry(
        seen, p.plan(seen), owners, ours=ours, holders=holders or {}, force_foreign=False
    )


def test_yielded_keys_are_left_out_and_the_rest_is_applied_unforced() -> None:
    result = retry(secret({"b": "theirs"}), {"b": "helm"})
    assert result.resolution.yielded == {"b": "helm"}
    assert result.body is not None
    assert result.body["data"] == {"a": "QQ=="}
    assert result.force is False


def test_drift_is_taken_back_with_a_forced_apply() -> None:
    previous = {"a": synced("a"), "b": synced("b")}
    result = retry(secret({"a": "edited", "b": "Qg=="}), {"a": "kubectl-edit"}, previous=previous)
    assert result.resolution.retake == {"a"}
    assert result.body is not None
    assert result.body["data"] == {"a": "QQ==", "b": "Qg=="}
    assert result.force is True


def test_force_takes_over_from_a_sync_it_outranks() -> None:
    result = retry(
        secret({"a": "theirs"}),
        {"a": "secretloom/ns/old"},
        ours=FORCING,
        holders={"secretloom/ns/old": OLDER_SYNC},  # not forcing: any forcing sync outranks it
    )
    assert result.resolution.take_over == {"a"}
    assert result.force is True


def test_nothing_to_write_when_the_rest_already_holds_its_values() -> None:
    result = retry(secret({"a": "QQ==", "b": "theirs"}), {"b": "helm"})
    assert result.resolution.yielded == {"b": "helm"}
    assert result.body is None


def test_nothing_to_write_beside_a_whole_field_another_writer_owns() -> None:
    result = retry(secret({}), {".data": "helm"})
    assert result.resolution.yielded == {".data": "helm"}
    assert result.body is None
