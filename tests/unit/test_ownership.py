"""Ownership guards of the plan: which targets are never written, and who keeps a contested key."""

from __future__ import annotations

from typing import Any

import pytest

from secretloom.controllers.secretsync import plan as p
from tests.unit.test_plan import OK_A, OK_B, observed, secret

OLD = p.Rank("2026-01-01T00:00:00Z", "ns", "old")
NEW = p.Rank("2026-06-01T00:00:00Z", "ns", "new")
SAME_TIME_B = p.Rank("2026-06-01T00:00:00Z", "ns", "b")


def claim(rank: p.Rank, *, force: bool) -> p.Claim:
    return p.Claim(rank, force=force)


def resolve(
    holder: p.Claim | None,
    *,
    ours: p.Claim,
    synced_before: frozenset[str] = frozenset(),
    force_foreign: bool = False,
    key: str = "k",
) -> p.Resolution:
    holders = {} if holder is None else {"other": holder}
    return p.after_conflict(
        {key: "other"},
        ours=ours,
        synced_before=set(synced_before),
        holders=holders,
        force_foreign=force_foreign,
    )


def test_an_existing_secret_is_not_adopted_by_an_owner_sync_without_adopt() -> None:
    target = secret({"helm-key": "eA=="})
    planned = p.plan(observed([OK_A, OK_B], target, creationPolicy="Owner"))
    assert planned.apply is None
    assert [r.reason for r in planned.problems] == ["AdoptionRequired"]
    assert all(k.state == "Error" for k in planned.keys)
    ready = p.conditions(
        generation=3,
        keys=planned.keys,
        problems=planned.problems,
        conflicting={},
        contested=[],
        target_missing=False,
        target_name="t",
    )[0]
    assert (ready.status, ready.reason) == ("False", "AdoptionRequired")
    assert "adopt: true" in ready.message


def test_adopt_takes_an_existing_secret_with_an_owner_reference() -> None:
    planned = p.plan(observed([OK_A, OK_B], secret({}), creationPolicy="Owner", adopt=True))
    assert planned.apply is not None
    assert planned.apply["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


def test_a_secret_this_sync_created_stays_its_own() -> None:
    refs: Any = [{"uid": "uid-1", "kind": "SecretSync", "name": "sync"}]
    target = secret({"a": "old"}, ownerReferences=refs)
    planned = p.plan(observed([OK_A, OK_B], target, creationPolicy="Owner"))
    assert planned.problems == []
    assert planned.apply is not None


def test_creating_an_owned_secret_needs_no_adopt() -> None:
    planned = p.plan(observed([OK_A, OK_B], None, creationPolicy="Owner"))
    assert planned.apply is not None
    assert planned.apply["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


@pytest.mark.parametrize("policy", ["Merge", "Owner"])
def test_a_service_account_token_secret_is_never_written(policy: str) -> None:
    target = {**secret({"token": "eA=="}), "type": "kubernetes.io/service-account-token"}
    planned = p.plan(observed([OK_A, OK_B], target, creationPolicy=policy, adopt=True))
    assert planned.apply is None
    assert [r.reason for r in planned.problems] == ["TargetNotAllowed"]


def test_drift_from_a_writer_that_is_not_a_sync_is_taken_back() -> None:
    result = resolve(None, ours=claim(NEW, force=False), synced_before=frozenset({"k"}))
    assert result.retake == {"k"}
    assert result.yielded == {}


def test_a_forged_secretloom_manager_name_is_not_a_sync() -> None:
    # The index, not the name, says who is a SecretSync: a writer calling itself
    # secretloom/ns/x is any other writer, and our synced key is taken back.
    result = p.after_conflict(
        {"k": "secretloom/ns/x"},
        ours=claim(NEW, force=False),
        synced_before={"k"},
        holders={},
        force_foreign=False,
    )
    assert result.retake == {"k"}


def test_force_does_not_take_keys_of_other_writers_unless_the_operator_allows() -> None:
    assert resolve(None, ours=claim(NEW, force=True)).yielded == {"k": "other"}
    assert resolve(None, ours=claim(NEW, force=True), force_foreign=True).take_over == {"k"}


def test_force_takes_from_a_sync_that_does_not_force() -> None:
    result = resolve(claim(OLD, force=False), ours=claim(NEW, force=True))
    assert result.take_over == {"k"}


def test_two_forcing_syncs_resolve_by_age_both_ways() -> None:
    # Each side's view: the older keeps the key, the younger yields. No flapping.
    assert resolve(claim(NEW, force=True), ours=claim(OLD, force=True)).take_over == {"k"}
    assert resolve(claim(OLD, force=True), ours=claim(NEW, force=True)).yielded == {"k": "other"}
    # Same creation second: the name decides, and again only one side wins.
    a = p.Rank(SAME_TIME_B.created, "ns", "a")
    assert resolve(claim(SAME_TIME_B, force=True), ours=claim(a, force=True)).take_over == {"k"}
    assert resolve(claim(a, force=True), ours=claim(SAME_TIME_B, force=True)).yielded


def test_a_key_another_sync_took_by_force_is_yielded_not_retaken() -> None:
    result = resolve(
        claim(NEW, force=True), ours=claim(OLD, force=False), synced_before=frozenset({"k"})
    )
    assert result.yielded == {"k": "other"}
    assert result.retake == frozenset()


def test_a_whole_field_owned_by_another_writer_is_always_yielded() -> None:
    result = resolve(None, ours=claim(OLD, force=True), force_foreign=True, key=".data")
    assert result.yielded == {".data": "other"}
