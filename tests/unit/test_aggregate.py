"""The aggregated write rules (controllers/secretsync/aggregate.py), as pure functions."""

from __future__ import annotations

import json

from secretloom.controllers.secretsync import aggregate
from secretloom.controllers.secretsync.plan import Claim, Rank
from secretloom.runtime.meta import OWNERS_ANNOTATION

NS, NAME = "team", "shared"


def claim(name: str, created: str = "2026-01-01T00:00:00Z", force: bool = False) -> Claim:
    return Claim(Rank(created, NS, name), force=force)


def ask(name: str, data: dict[str, str], **kw: object) -> aggregate.Contribution:
    return aggregate.Contribution(name, kw.pop("claim", claim(name)), data, "Opaque", **kw)  # type: ignore[arg-type]


def target(data: dict[str, str], record: dict[str, str] | None = None) -> dict[str, object]:
    annotations = {OWNERS_ANNOTATION: json.dumps(record)} if record is not None else {}
    return {
        "metadata": {"name": NAME, "namespace": NS, "annotations": annotations},
        "type": "Opaque",
        "data": data,
    }


def test_keys_of_syncs_not_in_the_batch_are_carried_and_dropped_keys_go() -> None:
    current = target({"a": "A", "b": "B", "helm": "H"}, {"a": "s1", "b": "s2"})
    merged = aggregate.merge(NS, NAME, current, {"s1": ask("s1", {"c": "C"})}, {})
    assert merged.body is not None
    assert merged.body["data"] == {"b": "B", "c": "C"}  # s1 dropped a, s2's b carried
    assert merged.record == {"b": "s2", "c": "s1"}
    annotations = merged.body["metadata"]["annotations"]
    assert json.loads(annotations[OWNERS_ANNOTATION]) == {"b": "s2", "c": "s1"}
    assert "helm" not in merged.body["data"]  # another manager's key is never listed


def test_nothing_to_write_when_the_target_holds_it_all() -> None:
    current = target({"a": "A"}, {"a": "s1"})
    assert aggregate.merge(NS, NAME, current, {"s1": ask("s1", {"a": "A"})}, {}).body is None
    assert aggregate.merge(NS, NAME, None, {"s1": ask("s1", {})}, {}).body is None


def test_the_older_sync_keeps_a_contested_key_unless_outranked_by_force() -> None:
    old, young = claim("old", "2026-01-01T00:00:00Z"), claim("young", "2026-02-01T00:00:00Z")
    batch = {
        "young": ask("young", {"k": "Y"}, claim=young),
        "old": ask("old", {"k": "O"}, claim=old),
    }
    merged = aggregate.merge(NS, NAME, target({}), batch, {"old": old, "young": young})
    assert merged.body is not None and merged.body["data"] == {"k": "O"}
    assert merged.yielded == {"young": {"k": f"secretloom/{NS}/old"}}

    forcing = claim("young", "2026-02-01T00:00:00Z", force=True)
    current = target({"k": "O"}, {"k": "old"})
    merged = aggregate.merge(
        NS, NAME, current, {"young": ask("young", {"k": "Y"}, claim=forcing)}, {"old": old}
    )
    assert merged.body is not None and merged.body["data"] == {"k": "Y"}
    assert merged.record == {"k": "young"}


def test_the_last_key_released_lets_go_of_everything() -> None:
    merged = aggregate.merge(NS, NAME, target({"a": "A"}, {"a": "s1"}), {"s1": ask("s1", {})}, {})
    assert merged.body == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": NAME, "namespace": NS},
    }


def test_after_a_409_drift_is_taken_back_foreign_keys_yielded_own_managers_moved() -> None:
    batch = {
        "s1": ask("s1", {"drifted": "1", "theirs": "2"}, synced_before=frozenset({"drifted"})),
        "s2": ask("s2", {"moving": "3"}),
    }
    merged = aggregate.merge(NS, NAME, target({}), batch, {})
    owners = {"drifted": "kubectl-edit", "theirs": "helm", "moving": f"secretloom/{NS}/s2"}
    again = aggregate.after_conflict(merged, owners, batch, {}, force_foreign=False)
    assert again.body is not None and again.force
    assert again.body["data"] == {"drifted": "1", "moving": "3"}
    assert again.yielded == {"s1": {"theirs": "helm"}}
    assert again.retaken == {"s1": frozenset({"drifted"})}
    assert "theirs" not in again.record


def test_drift_under_backoff_is_held_back_and_a_whole_field_leaves_nothing() -> None:
    batch = {"s1": ask("s1", {"k": "1"}, synced_before=frozenset({"k"}), may_retake=False)}
    merged = aggregate.merge(NS, NAME, target({}), batch, {})
    again = aggregate.after_conflict(merged, {"k": "edit"}, batch, {}, force_foreign=False)
    assert again.held_back == {"s1"}
    assert again.body is not None and "data" not in again.body
    whole = aggregate.after_conflict(merged, {".data": "x"}, batch, {}, force_foreign=False)
    assert whole.body is None and whole.yielded == {"s1": {".data": "x"}}


def test_a_target_aggregates_at_the_threshold_and_leaves_below_half() -> None:
    assert not aggregate.is_aggregated(0, 1000, None)
    assert aggregate.is_aggregated(16, 16, None)
    assert not aggregate.is_aggregated(16, 15, None)
    recorded = target({"a": "A"}, {"a": "s1"})
    assert aggregate.is_aggregated(16, 8, recorded)
    assert not aggregate.is_aggregated(16, 7, recorded)


def test_a_key_another_syncs_own_manager_holds_is_not_moved_but_decided_by_rank() -> None:
    older = claim("x", "2025-01-01T00:00:00Z")
    batch = {"y": ask("y", {"k": "Y"})}
    merged = aggregate.merge(NS, NAME, target({"k": "X"}), batch, {})
    manager = f"secretloom/{NS}/x"
    again = aggregate.after_conflict(
        merged, {"k": manager}, batch, {manager: older}, force_foreign=False
    )
    assert not again.force and again.yielded == {"y": {"k": manager}}
    assert again.body is not None and "data" not in again.body


def test_the_holder_keeps_its_key_when_a_newcomer_sorting_first_asks_in_the_same_batch() -> None:
    # Created in the same second, "clash" sorts before "ok"; "ok" holds the key.
    # Found by the canary: after a kubectl edit both were woken into one batch,
    # and the newcomer took the key the holder was about to take back.
    holder, newcomer = claim("ok"), claim("clash")
    batch = {
        "clash": ask("clash", {"token": "B"}, claim=newcomer),
        "ok": ask("ok", {"token": "A"}, claim=holder, synced_before=frozenset({"token"})),
    }
    current = target({"token": "edited"}, {"token": "ok"})
    merged = aggregate.merge(NS, NAME, current, batch, {"ok": holder, "clash": newcomer})
    assert merged.body is not None and merged.body["data"] == {"token": "A"}
    assert merged.record == {"token": "ok"}
    assert merged.yielded == {"clash": {"token": f"secretloom/{NS}/ok"}}
