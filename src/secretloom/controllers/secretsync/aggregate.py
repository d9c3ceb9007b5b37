"""Aggregated targets: many SecretSyncs into one Secret, one field manager (issue 17).

Why: the cost of a server-side apply grows with the field managers the object
carries. Measured on the local control plane, an apply to a Secret with 100
managers costs the API server ~85 ms, so 100 SecretSyncs each writing one Secret
as its own manager top out near 11 changes/s, and propagation at 20 changes/s
reached a p99 of 20 s. A single writer that coalesces the pending changes into
one apply stayed at 19 ms.

So a target with at least `threshold` SecretSyncs writing it (`--aggregate-writers`)
is *aggregated*: its SecretSyncs' keys are written by one field manager,
`secretloom-target/<namespace>/<secret>`, one apply carrying every change pending
for that target (the coalescing is `targets.py`), and which SecretSync owns each
key is recorded in the same apply, in the annotation `secretloom.io/owners`
(`runtime.meta.recorded_owners`; `secretloom owners` and `check notifications`
show it). Below the threshold every SecretSync keeps its own field manager, the
clearer picture in `kubectl get secret --show-managed-fields`. A target stays
aggregated until its writers fall below half the threshold (it carries the
record meanwhile), so it never flaps at the line. Only SecretSyncs with
`creationPolicy: Merge` and no dynamic entries are aggregated: an owner reference
and lease annotations stay with the SecretSync they belong to.

The trade-off, documented in docs/secretsync.md: ownership between the
SecretSyncs of an aggregated target is decided here, by the same rules a 409
would apply (the older SecretSync keeps a key; `force` takes it from one it
outranks), and reported the same way (Conflict naming `secretloom/<ns>/<name>`);
writers that are not SecretSyncs are still answered by the API server's 409 on
the aggregated apply, with drift taken back as before.

`merge` is the pure rule for one coalesced apply:
- a key the record gives to a SecretSync that is not in this batch keeps its
  current value and owner (carried): nothing is lost while a SecretSync has not
  reconciled since a restart, or after it was deleted with `Retain`;
- a key the record gives to a batch member that still lists it stays its own:
  the holder keeps a key, whoever else in the batch asks for it, unless
  outranked by `force` (as a 409 would decide);
- a batch member's listed keys are set; the keys the record gave it that it no
  longer lists are dropped (server-side apply removes them, as for its own
  manager);
- the record lists exactly the data keys the apply carries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from secretloom.controllers.secretsync import plan as planning
from secretloom.controllers.secretsync.naming import field_manager
from secretloom.runtime.kube import Obj
from secretloom.runtime.meta import (
    AGGREGATE_MANAGER_PREFIX,
    OWNERS_ANNOTATION,
    format_owners,
    recorded_owners,
)

DEFAULT_THRESHOLD = 16
_RECORD_FIELD = f".metadata.annotations.{OWNERS_ANNOTATION}"


def aggregate_manager(namespace: str, secret: str) -> str:
    """The one field manager of an aggregated target: `secretloom-target/<ns>/<secret>`."""
    return field_manager(namespace, secret, prefix=AGGREGATE_MANAGER_PREFIX.rstrip("/"))


def is_aggregated(threshold: int, writers: int, target: Obj | None) -> bool:
    """Whether the target's SecretSyncs write through the aggregated manager."""
    if threshold <= 0:
        return False
    if writers >= threshold:
        return True
    # Hysteresis: an aggregated target (it carries the record) stays so above half.
    return bool(recorded_owners(target)) and writers >= math.ceil(threshold / 2)


@dataclass(frozen=True)
class Contribution:
    """What one SecretSync asks of an aggregated target in this round."""

    sync: str  # the SecretSync's name; the namespace is the target's
    claim: planning.Claim
    data: Mapping[str, str]  # every key it means to own now (empty: release them all)
    type: str
    synced_before: frozenset[str] = frozenset()  # may be taken back from other writers
    may_retake: bool = True  # False while its drift correction backs off


@dataclass(frozen=True)
class Merged:
    """One coalesced apply, and what it means for each SecretSync of the batch."""

    body: Obj | None  # None: the target already holds all of it
    record: dict[str, str]
    yielded: dict[str, dict[str, str]] = field(default_factory=dict)  # sync -> key -> keeper
    force: bool = False
    retaken: dict[str, frozenset[str]] = field(default_factory=dict)  # sync -> drift taken back
    held_back: frozenset[str] = frozenset()  # syncs whose drift correction waits


def merge(
    namespace: str,
    name: str,
    target: Obj | None,
    batch: Mapping[str, Contribution],
    claims: Mapping[str, planning.Claim],
) -> Merged:
    """The apply for `batch` on `target`; `claims` are the SecretSyncs aggregated here."""
    current: Mapping[str, str] = (target or {}).get("data") or {}
    before = recorded_owners(target)
    data: dict[str, str] = {}
    record: dict[str, str] = {}
    for key, owner in before.items():
        if owner not in batch:
            if key in current:
                data[key], record[key] = current[key], owner  # carried
        elif key in batch[owner].data:
            # Kept by its holder first: a newcomer in the same batch that sorts
            # before it must not take it by arriving together (a 409 would not).
            data[key], record[key] = batch[owner].data[key], owner
    yielded: dict[str, dict[str, str]] = {}
    for sync in sorted(batch, key=lambda s: batch[s].claim.rank):  # seniors first
        ours = batch[sync]
        for key, value in ours.data.items():
            holder = record.get(key)
            if holder == sync:
                continue  # already set above
            if holder is not None and not _may_take(ours, holder, claims):
                yielded.setdefault(sync, {})[key] = field_manager(namespace, holder)
                continue
            data[key], record[key] = value, sync
    wanted = next(iter(batch.values())).type if batch else None
    apply = body(namespace, name, target, data, record, wanted)
    unchanged = (
        target is not None and data == {k: current.get(k) for k in data} and (record == before)
    )
    if unchanged or (target is None and not data):
        return Merged(None, record, yielded)
    return Merged(apply, record, yielded)


def _may_take(ours: Contribution, holder: str, claims: Mapping[str, planning.Claim]) -> bool:
    """A key another SecretSync holds: decided as a 409 between them would be."""
    claim = claims.get(holder)
    resolution = planning.after_conflict(
        {"k": holder},
        ours=ours.claim,
        synced_before=set(),  # between SecretSyncs, nothing is drift
        holders={holder: claim},
        force_foreign=False,
    )
    return bool(resolution.take_over)


def body(
    namespace: str,
    name: str,
    target: Obj | None,
    data: Mapping[str, str],
    record: Mapping[str, str],
    wanted_type: str | None = None,
) -> Obj:
    """The aggregated manager's apply configuration: `data` and its record (none: let go)."""
    base: Obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
    }
    current_type = (target or {}).get("type")
    # As for a SecretSync's own manager: co-own `type` only when ours to set or equal.
    if current_type is not None or wanted_type is not None:
        base["type"] = current_type or wanted_type
    return _with_data(base, data, record)


def own_body(namespace: str, name: str, target: Obj | None, data: Mapping[str, str]) -> Obj:
    """A SecretSync's own manager's apply keeping only `data` (none: let go of everything)."""
    kept = body(namespace, name, target, data, {})
    kept["metadata"].pop("annotations", None)  # the record is the aggregated manager's
    return kept


def _with_data(body: Obj, data: Mapping[str, str], record: Mapping[str, str]) -> Obj:
    """`body` carrying `data` and its record instead (a bare release when `data` is empty)."""
    meta = body["metadata"]
    bare: Obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
    }
    if not data:
        return bare
    bare["metadata"]["annotations"] = {OWNERS_ANNOTATION: format_owners(dict(record))}
    bare["data"] = dict(data)
    if "type" in body:
        bare["type"] = body["type"]
    return bare


def after_conflict(
    merged: Merged,
    owners: Mapping[str, str],
    batch: Mapping[str, Contribution],
    holders: Mapping[str, planning.Claim | None],
    *,
    force_foreign: bool,
) -> Merged:
    """The second apply after a 409 naming `owners` (key or field path -> manager).

    A key held by the own manager of the SecretSync it is recorded for (it wrote
    the key before the target aggregated), and the record itself, are taken
    with force: they are moving to the aggregated manager. Every other key is
    decided for the SecretSync that claims it as its own 409 would be
    (`plan.after_conflict`): taken back, taken over or yielded.
    A carried key that conflicts is left out (its SecretSync decides when it next
    writes). A whole field held elsewhere (`.data`) leaves nothing to write.
    """
    if merged.body is None:
        return merged
    if any(path.startswith(".") and path != _RECORD_FIELD for path in owners):
        whole = {p: m for p, m in owners.items() if p.startswith(".")}
        return Merged(None, merged.record, {s: dict(whole) for s in batch})
    record = dict(merged.record)
    data = dict(merged.body.get("data") or {})
    yielded = {s: dict(k) for s, k in merged.yielded.items()}
    retaken: dict[str, set[str]] = {}
    held_back: set[str] = set()
    force = _RECORD_FIELD in owners
    namespace = merged.body["metadata"]["namespace"]
    for key, manager in owners.items():
        if key.startswith("."):
            continue
        sync = record.get(key)
        claim = batch.get(sync) if sync is not None else None
        if sync is not None and manager == field_manager(namespace, sync):
            force = True
            continue
        if claim is None:
            data.pop(key, None)  # carried: its SecretSync decides when it next writes
            record.pop(key, None)
            continue
        resolution = planning.after_conflict(
            {key: manager},
            ours=claim.claim,
            synced_before=set(claim.synced_before),
            holders=holders,
            force_foreign=force_foreign,
        )
        if resolution.retake and not claim.may_retake:
            held_back.add(claim.sync)
        elif resolution.forced:
            if resolution.retake:
                retaken.setdefault(claim.sync, set()).add(key)
            force = True
            continue
        else:
            yielded.setdefault(claim.sync, {}).update(resolution.yielded)
        data.pop(key, None)
        record.pop(key, None)
    return Merged(
        _with_data(merged.body, data, record),
        record,
        yielded,
        force=force,
        retaken={s: frozenset(k) for s, k in retaken.items()},
        held_back=frozenset(held_back),
    )
