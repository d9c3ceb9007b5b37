"""What a reconcile reports, as pure functions: the SecretSync's status and its Events.

The reconciler observes, asks `plan` what to write, acts, and sums the act
up in an `Outcome`. Everything it then tells the world is decided here, from
the observation, the plan and the outcome, so every rule is unit-tested
without a cluster (issue 11: the reconciler used to override a condition,
assemble the status and pick Events inline):

* `status`: per-key states (a conflicting key is `Conflict`; a key the API
  server refused to write is `Error` and keeps the version it was last
  synced from, so the next reconcile does not mistake it for drift), all
  conditions, the refresh times of the store reads it planned with (none
  while a first poll for this spec is still running: nothing to vouch for);
* `events`: Warning Events for drift corrections, conflicts, source problems
  and refused applies; a Normal `Synced` on the first successful sync and on
  every write that changed a value (a rotation), never on a reconcile that
  wrote nothing. The recorder de-duplicates repeats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from secretloom.api import secretsync as api
from secretloom.api.conditions import Condition
from secretloom.api.invalid import invalid_fields
from secretloom.controllers.secretsync import plan as planning
from secretloom.controllers.secretsync.naming import field_manager
from secretloom.controllers.secretsync.refresh import Remembered

_NOT_WRITTEN = "not written: the API server refused the apply (see the Ready condition)"


@dataclass(frozen=True)
class Outcome:
    """What one reconcile did to the target."""

    result: str  # written, unchanged, conflict, backoff, waiting, error
    conflicting: Mapping[str, str] = field(default_factory=dict)
    corrected: frozenset[str] = frozenset()  # drift taken back
    writers: tuple[str, ...] = ()  # who had changed the corrected keys
    corrections: int = 0  # corrections in the drift window, this one included
    written: frozenset[str] = frozenset()  # keys whose value the write changed (not drift)
    error: str = ""  # the API server's refusal of the apply


@dataclass(frozen=True)
class Note:
    """An Event to record about the SecretSync."""

    reason: str
    message: str
    warning: bool = True


def status(
    *,
    observed: planning.Observed,
    planned: planning.Plan,
    outcome: Outcome,
    data_from: Sequence[api.DataFromStatus],
    reads: Remembered | None,
    reads_stores: bool,
    contested: bool,
) -> api.SecretSyncStatus:
    """The whole status after one reconcile.

    `reads` are the store reads planned with when they were read for this
    spec and refresh request (None otherwise); `contested` says the drift
    window is open.
    """
    keys = planning.with_conflicts(planned.keys, outcome.conflicting)
    if outcome.error:
        keys = _unwritten(keys, planned.changed, observed.previous)
    conditions = planning.conditions(
        generation=observed.generation,
        keys=keys,
        problems=planned.problems,
        conflicting=outcome.conflicting,
        contested=sorted(planned.drift_keys) if contested else [],
        still_contested=contested,
        target_missing=planned.target_missing,
        target_name=observed.spec.target.name,
        reads_stores=reads_stores,
        pending=planned.pending,
        apply_error=outcome.error,
    )
    owned = [k for k in keys if k.key in planned.desired and k.key not in outcome.conflicting]
    return api.SecretSyncStatus(
        observed_generation=observed.generation,
        field_manager=field_manager(observed.namespace, observed.name),
        key_count=len(owned),
        sources=observed.spec.source_summary(),
        keys=keys,
        data_from=list(data_from),
        last_refresh_time=reads.last_refresh if reads else "",
        next_refresh_time=reads.next_refresh if reads else "",
        refresh_request=reads.ask.request if reads else "",
        conditions=conditions,
    )


def _unwritten(
    keys: Sequence[api.KeyStatus],
    changed: frozenset[str],
    previous: Mapping[str, api.KeyStatus],
) -> list[api.KeyStatus]:
    """Keys whose new value the API server refused: Error, still at their last synced version."""

    def refused(key: api.KeyStatus) -> api.KeyStatus:
        before = previous.get(key.key)
        version = before.source_version if before else ""
        update = {"state": "Error", "source_version": version, "message": _NOT_WRITTEN}
        return key.model_copy(update=update)

    return [refused(k) if k.key in changed and k.state == "Synced" else k for k in keys]


def events(
    *,
    observed: planning.Observed,
    planned: planning.Plan,
    outcome: Outcome,
    keys: Sequence[api.KeyStatus],
    drift_window: float,
) -> list[Note]:
    """The Events one reconcile records; `keys` are the per-key states it reports."""
    target = observed.spec.target.name
    notes: list[Note] = []
    if outcome.error:
        notes.append(
            Note(planning.APPLY_FAILED, f"Secret {target!r} was not written: {outcome.error}")
        )
    if outcome.corrected:
        writers = ", ".join(outcome.writers) or "another writer"
        notes.append(
            Note(
                "DriftCorrected",
                f"restored key(s) {sorted(outcome.corrected)} changed by {writers} "
                f"(correction {outcome.corrections} in the last {drift_window:.0f}s)",
            )
        )
    if outcome.conflicting:
        text = "; ".join(
            f"key {k!r} is owned by {m!r}" for k, m in sorted(outcome.conflicting.items())
        )
        notes.append(Note("Conflict", f"{text}; nothing written for these keys"))
    notes.extend(Note(p.reason, p.message) for p in planned.problems)
    synced = sum(1 for k in keys if k.state == "Synced")
    first = synced and not any(s.state == "Synced" for s in observed.previous.values())
    if first and outcome.result in ("written", "unchanged", "conflict"):
        notes.append(Note("Synced", f"synced {synced} key(s) to Secret {target!r}", False))
    elif outcome.written:
        notes.append(
            Note("Synced", f"updated key(s) {sorted(outcome.written)} in Secret {target!r}", False)
        )
    return notes


def invalid_spec(generation: int, err: ValidationError) -> api.SecretSyncStatus:
    """The status of a SecretSync whose spec does not parse: field paths, never input."""
    return api.SecretSyncStatus(
        observed_generation=generation,
        conditions=[
            Condition(
                type="Ready",
                status="False",
                reason="InvalidSpec",
                message=f"spec is invalid at: {invalid_fields(err)}",
                observed_generation=generation,
            )
        ],
    )


def earliest(*delays: float | None) -> float | None:
    """When to look again: the soonest of the delays that are set (None: not at all)."""
    due = [d for d in delays if d is not None]
    return max(0.0, min(due)) if due else None
