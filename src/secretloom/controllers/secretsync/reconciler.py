"""The SecretSync reconciler: read from the caches, plan, apply, report.

Level-triggered: it is given a namespaced name, reads the SecretSync, its
sources and its target from the caches, asks `plan` what the target should
hold and writes only the difference, with server-side apply under the
SecretSync's own field manager.

Conflicts are reported, never fought. The first apply is never forced: a 409
names the other manager of each contested key, and `plan.after_conflict`
decides key by key, with the SecretSync index saying which managers are
SecretSyncs. A key this SecretSync synced before and a writer that is not a
SecretSync has since taken is drift: it is taken back with a forced apply, at
most as often as the `DriftTracker` allows, with a `DriftCorrected` Event.
`force` takes keys over from SecretSyncs it outranks (and from other writers
only when the operator allows it). Any other contested key is a conflict: left
alone, reported in the `Conflict` condition and an Event.

Deletion goes through a finalizer, which releases exactly this SecretSync's
keys (deletionPolicy Delete) or leaves them (Retain). An owned Secret that
still holds other managers' keys is not handed to the garbage collector: only
this SecretSync's keys and ownerReference are removed. Finalizers and status
are written by the controller's own field manager, never the per-sync one.

Store entries are polled only when `refresh` says so; between polls the last
reads are reused from memory (`_Remembered`), and the reconcile asks to be
requeued when they expire: at the next jittered refresh, or after a growing
backoff while a provider fails. A provider failure is a per-entry result, so
the reconcile still completes, keeps the last known good values and writes
the ProviderError condition.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from secretloom.api import secretsync as api
from secretloom.api.conditions import Condition
from secretloom.controllers.secretsync import plan as planning
from secretloom.controllers.secretsync import refresh
from secretloom.controllers.secretsync.drift import DriftTracker
from secretloom.controllers.secretsync.naming import (
    CONTROLLER_MANAGER,
    FINALIZER,
    field_manager,
)
from secretloom.controllers.secretsync.reads import NO_READS, StoreReads, assemble, resume
from secretloom.controllers.secretsync.resources import FIELD_MANAGERS, SYNCS
from secretloom.controllers.secretsync.sources import Sources
from secretloom.controllers.secretsync.versions import VersionLedger
from secretloom.controllers.status import unchanged, write_status
from secretloom.runtime import metrics
from secretloom.runtime.cache import Cache
from secretloom.runtime.events import EventRecorder
from secretloom.runtime.informer import Key
from secretloom.runtime.kube import SECRETS, ApiError, KubeClient, Obj
from secretloom.runtime.queue import RateLimiter
from secretloom.runtime.reconcile import Result, TerminalError
from secretloom.runtime.secrets import SecretCache

log = logging.getLogger(__name__)
_CONFLICT_FIELD = re.compile(r"^\.data\.(.+)$")
_CONFLICT_MANAGER = re.compile(r'conflict with "([^"]+)"')


@dataclass(frozen=True)
class Outcome:
    """What one reconcile did to the target."""

    result: str  # written, unchanged, conflict, backoff, waiting
    conflicting: Mapping[str, str] = field(default_factory=dict)
    corrected: frozenset[str] = frozenset()
    writers: tuple[str, ...] = ()
    corrections: int = 0


@dataclass(frozen=True)
class _Ask:
    """What one reconcile knows when it decides whether to poll the stores."""

    key: Key
    spec: api.SecretSyncSpec
    generation: int
    request: str  # tag of the refresh annotation
    status: api.SecretSyncStatus
    target: Obj | None


@dataclass(frozen=True)
class _Remembered:
    """A SecretSync's last store reads, and until when they stand in for a poll."""

    reads: StoreReads
    generation: int
    request: str
    expires: float  # monotonic; -inf: stale, poll at the next reconcile
    last_refresh: str
    next_refresh: str

    def serves(self, ask: _Ask, now: float) -> bool:
        same = (self.generation, self.request) == (ask.generation, ask.request)
        return same and now < self.expires


def conflicts_of(err: ApiError) -> dict[str, str]:
    """Data key (or, for any other field, its path) -> owning field manager, from a 409."""
    owners: dict[str, str] = {}
    for cause in (err.body.get("details") or {}).get("causes") or []:
        path = cause.get("field", "")
        key = _CONFLICT_FIELD.match(path)
        manager = _CONFLICT_MANAGER.search(cause.get("message", ""))
        if manager:
            owners[key.group(1) if key else path] = manager.group(1)
    return owners


class SecretSyncReconciler:
    def __init__(
        self,
        client: KubeClient,
        syncs: Cache,
        secrets: SecretCache,
        events: EventRecorder,
        sources: Sources,
        drift: DriftTracker | None = None,
        policy: refresh.RefreshPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,  # for tests
        *,
        force_foreign: bool = False,
    ) -> None:
        self._client = client
        self._force_foreign = force_foreign
        self._syncs = syncs
        self._secrets = secrets
        self._events = events
        self._sources = sources
        self._drift = drift or DriftTracker()
        self._versions = VersionLedger(clock=clock)
        self._policy = policy or refresh.RefreshPolicy()
        self._backoff: RateLimiter[Key] = RateLimiter(
            base_delay=self._policy.backoff_base, max_delay=self._policy.backoff_max
        )
        self._clock = clock
        self._remembered: dict[Key, _Remembered] = {}
        self.source_seen: dict[Key, float] = {}  # for the propagation metric

    def invalidate(self, key: Key) -> None:
        """Poll the stores of `key` at its next reconcile (a store it uses changed)."""
        kept = self._remembered.get(key)
        if kept is not None:
            self._remembered[key] = dataclasses.replace(kept, expires=-math.inf)

    def _forget(self, key: Key) -> None:
        self._drift.forget(key)
        self._versions.forget(key)
        self._backoff.forget(key)
        self._remembered.pop(key, None)
        self.source_seen.pop(key, None)

    async def __call__(self, key: Key) -> Result:
        obj = self._syncs.get(key)
        if obj is None:
            self._forget(key)
            return Result()
        if obj["metadata"].get("deletionTimestamp"):
            await self._finalize(obj)
            return Result()
        if FINALIZER not in (obj["metadata"].get("finalizers") or []):
            await self._set_finalizer(obj, present=True)
        try:
            spec = api.SecretSyncSpec.model_validate(obj["spec"])
        except ValidationError as err:
            await self._write_status(obj, _invalid_spec_status(obj, err))
            raise TerminalError(f"invalid spec: {err.error_count()} error(s)") from None
        return await self._sync(key, obj, spec)

    async def _sync(self, key: Key, obj: Obj, spec: api.SecretSyncSpec) -> Result:
        namespace, name = key
        meta = obj["metadata"]
        status = _status_of(obj)
        previous = self._versions.overlay(key, _keys(status))
        generation = int(meta.get("generation") or 0)
        target = await self._secrets.get_with_data(namespace, spec.target.name)
        kubernetes = await self._sources.kubernetes_entries(namespace, spec)
        request = refresh.request_of(meta.get("annotations"))
        remembered = await self._store_reads(_Ask(key, spec, generation, request, status, target))
        reads = remembered.reads if remembered else NO_READS
        resolved, data_from = assemble(spec, kubernetes, reads, previous)
        observed = planning.Observed(
            namespace=namespace,
            name=name,
            uid=meta["uid"],
            generation=generation,
            spec=spec,
            resolved=resolved,
            target=target,
            previous=previous,
        )
        planned = planning.plan(observed)
        outcome = Outcome("waiting" if planned.target_missing else "unchanged")
        requeue: float | None = None
        if remembered is not None and remembered.expires < math.inf:
            requeue = max(0.0, remembered.expires - self._clock())
        if planned.apply is not None:
            wait = self._drift.wait(key) if planned.drift_keys else 0.0
            if wait > 0:
                requeue, outcome = min(requeue or wait, wait), Outcome("backoff")
            else:
                outcome = await self._apply(key, observed, planned)
        conflicting = outcome.conflicting
        keys = planning.with_conflicts(planned.keys, conflicting)
        contested = self._drift.contested(key)
        conditions = planning.conditions(
            generation=observed.generation,
            keys=keys,
            problems=planned.problems,
            conflicting=conflicting,
            contested=sorted(planned.drift_keys) if contested else [],
            target_missing=planned.target_missing,
            target_name=spec.target.name,
            reads_stores=remembered is not None,
        )
        if contested and not planned.drift_keys:
            # Keep the condition while the window lasts; re-check when it may end.
            conditions = [
                c.model_copy(
                    update={
                        "status": "True",
                        "reason": "DriftKeepsReturning",
                        "message": "another writer keeps changing owned keys",
                    }
                )
                if c.type == "Contested"
                else c
                for c in conditions
            ]
        if contested:
            requeue = min(requeue or self._drift.window(), self._drift.window())
        owned = [k for k in keys if k.key in planned.desired and k.key not in conflicting]
        new_status = api.SecretSyncStatus(
            observed_generation=observed.generation,
            field_manager=field_manager(namespace, name),
            key_count=len(owned),
            keys=keys,
            data_from=data_from,
            last_refresh_time=remembered.last_refresh if remembered else "",
            next_refresh_time=remembered.next_refresh if remembered else "",
            refresh_request=request if remembered else "",
            conditions=conditions,
        )
        to_write, flush_in = self._versions.defer(key, new_status, obj.get("status") or {})
        if flush_in is not None and not unchanged(obj, to_write):
            to_write, flush_in = new_status, None  # writing anyway: write it all
            self._versions.forget(key)
        if flush_in is not None:
            requeue = min(requeue or flush_in, flush_in)
        await self._write_status(obj, to_write)
        await self._report(obj, planned, outcome)
        metrics.SYNC_TOTAL.labels(outcome.result).inc()
        return Result(requeue_after=requeue)

    async def _store_reads(self, ask: _Ask) -> _Remembered | None:
        """The store reads to plan with: remembered, resumed from the status, or polled now."""
        if not ask.spec.uses_stores():
            self._remembered.pop(ask.key, None)
            self._backoff.forget(ask.key)
            return None
        now, wall = self._clock(), datetime.datetime.now(datetime.UTC)
        kept = self._remembered.get(ask.key)
        if kept is None:
            kept = self._resumed(ask, now, wall)
        elif not kept.serves(ask, now):
            kept = None
        if kept is None:
            kept = await self._poll(ask, now, wall)
        self._remembered[ask.key] = kept
        return kept

    def _resumed(self, ask: _Ask, now: float, wall: datetime.datetime) -> _Remembered | None:
        """The last poll as the status and the target vouch for it, after a restart."""
        status = ask.status
        window = refresh.resume_window(
            status,
            generation=ask.generation,
            request=ask.request,
            interval=ask.spec.refresh_seconds(),
            now=wall,
        )
        if window is None:
            return None
        reads = resume(ask.spec, ask.key[0], _keys(status), status.data_from, ask.target)
        if reads is None:
            return None
        return _Remembered(
            reads,
            ask.generation,
            ask.request,
            now + window,
            status.last_refresh_time,
            status.next_refresh_time,
        )

    async def _poll(self, ask: _Ask, now: float, wall: datetime.datetime) -> _Remembered:
        reads = await self._sources.poll(ask.key[0], ask.spec)
        last = ask.status.last_refresh_time
        interval = ask.spec.refresh_seconds()
        if reads.provider_failed:
            delay = refresh.jittered(self._backoff.when(ask.key), self._policy.jitter)
        else:
            self._backoff.forget(ask.key)
            last = refresh.rfc3339(wall)
            delay = refresh.jittered(interval, self._policy.jitter) if interval > 0 else math.inf
        upcoming = (
            refresh.rfc3339(wall + datetime.timedelta(seconds=delay)) if delay < math.inf else ""
        )
        log.debug(
            "polled stores",
            extra={"sync": "/".join(ask.key), "failed": reads.provider_failed, "next_in": delay},
        )
        return _Remembered(reads, ask.generation, ask.request, now + delay, last, upcoming)

    async def _apply(
        self, key: Key, observed: planning.Observed, planned: planning.Plan
    ) -> Outcome:
        assert planned.apply is not None
        manager = field_manager(*key)
        target = observed.spec.target
        path = SECRETS.path(observed.namespace, target.name)
        try:
            await self._client.apply(path, planned.apply, field_manager=manager)
            return self._written(key, Outcome("written", corrected=planned.drift_keys))
        except ApiError as err:
            if err.status != 409:
                raise
            owners = conflicts_of(err)
        resolution = planning.after_conflict(
            owners,
            ours=self._claim(observed.namespace, self._syncs.get(key)),
            synced_before={k for k, s in observed.previous.items() if s.state == "Synced"},
            holders={m: self._holder(observed.namespace, m) for m in set(owners.values())},
            force_foreign=self._force_foreign,
        )
        foreign = resolution.yielded
        if resolution.retake and (wait := self._drift.wait(key)) > 0:
            log.info(
                "drift correction backing off",
                extra={"sync": "/".join(key), "keys": sorted(resolution.retake), "wait": wait},
            )
            return Outcome("backoff", conflicting=foreign)
        data = {k: v for k, v in planned.desired.items() if k not in foreign}
        current = (observed.target or {}).get("data") or {}
        whole_field = any(k.startswith(".") for k in foreign)  # e.g. `.data` owned as a whole
        if whole_field or not planning.differs(current, data, observed.previous):
            return Outcome("conflict", conflicting=foreign)
        body = planning.target_body(observed, data, owned=target.creation_policy == "Owner")
        await self._client.apply(path, body, field_manager=manager, force=bool(resolution.forced))
        if resolution.take_over:
            log.info(
                "took over keys (spec.target.force)",
                extra={
                    "sync": "/".join(key),
                    "keys": sorted(resolution.take_over),
                    "from": sorted({owners[k] for k in resolution.take_over}),
                },
            )
        return self._written(
            key,
            Outcome(
                "conflict" if foreign else "written",
                conflicting=foreign,
                corrected=resolution.retake | planned.drift_keys,
                writers=tuple(sorted({owners[k] for k in resolution.retake})),
            ),
        )

    def _holder(self, namespace: str, manager: str) -> planning.Claim | None:
        """The SecretSync writing as `manager`, by the index; None for any other writer."""
        for key in self._syncs.by_index(FIELD_MANAGERS, manager, namespace):
            return self._claim(namespace, self._syncs.get(key))
        return None

    @staticmethod
    def _claim(namespace: str, obj: Obj | None) -> planning.Claim:
        meta = (obj or {}).get("metadata") or {}
        target = ((obj or {}).get("spec") or {}).get("target") or {}
        rank = planning.Rank(meta.get("creationTimestamp") or "", namespace, meta.get("name") or "")
        return planning.Claim(rank, force=bool(target.get("force")))

    def _written(self, key: Key, outcome: Outcome) -> Outcome:
        metrics.TARGET_WRITES.inc()
        seen = self.source_seen.pop(key, None)
        if seen is not None:
            metrics.PROPAGATION.observe(time.perf_counter() - seen)
        if not outcome.corrected:
            return outcome
        count = self._drift.record(key)
        metrics.DRIFT_CORRECTIONS.inc(len(outcome.corrected))
        log.info(
            "restored owned keys changed by another writer",
            extra={
                "sync": "/".join(key),
                "keys": sorted(outcome.corrected),
                "writers": list(outcome.writers),
                "corrections_in_window": count,
            },
        )
        return dataclasses.replace(outcome, corrections=count)

    async def _report(self, obj: Obj, planned: planning.Plan, outcome: Outcome) -> None:
        if outcome.corrected:
            writers = ", ".join(outcome.writers) or "another writer"
            await self._events.emit(
                obj,
                "DriftCorrected",
                f"restored key(s) {sorted(outcome.corrected)} changed by {writers} "
                f"(correction {outcome.corrections} in the last {self._drift.window():.0f}s)",
                warning=True,
            )
        if outcome.conflicting:
            metrics.CONFLICTS.inc(len(outcome.conflicting))
            text = "; ".join(
                f"key {k!r} is owned by {m!r}" for k, m in sorted(outcome.conflicting.items())
            )
            await self._events.emit(
                obj, "Conflict", f"{text}; nothing written for these keys", warning=True
            )
        for problem in planned.problems:
            await self._events.emit(obj, problem.reason, problem.message, warning=True)
            metrics.SYNC_ERRORS.labels(problem.reason).inc()

    async def _write_status(self, obj: Obj, status: api.SecretSyncStatus) -> None:
        meta = obj["metadata"]
        path = SYNCS.path(meta["namespace"], meta["name"], "status")
        await write_status(self._client, self._syncs, path, obj, status)

    async def _set_finalizer(self, obj: Obj, *, present: bool) -> None:
        meta = obj["metadata"]
        body: Obj = {
            "apiVersion": f"{api.GROUP}/{api.VERSION}",
            "kind": api.KIND,
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        }
        if present:
            body["metadata"]["finalizers"] = [FINALIZER]
        path = SYNCS.path(meta["namespace"], meta["name"])
        try:
            updated = await self._client.apply(path, body, field_manager=CONTROLLER_MANAGER)
        except ApiError as err:
            if err.status == 404:
                return
            raise
        self._syncs.put(_strip(updated))

    async def _finalize(self, obj: Obj) -> None:
        meta = obj["metadata"]
        if FINALIZER not in (meta.get("finalizers") or []):
            return
        namespace, name = meta["namespace"], meta["name"]
        try:
            spec = api.SecretSyncSpec.model_validate(obj["spec"])
        except ValidationError:
            spec = None  # nothing was ever written for an invalid spec
        if spec is not None:
            await self._release(obj, spec)
        await self._set_finalizer(obj, present=False)
        self._forget((namespace, name))
        log.info("finalized", extra={"sync": f"{namespace}/{name}"})

    async def _release(self, obj: Obj, spec: api.SecretSyncSpec) -> None:
        """On deletion: drop this SecretSync's keys (Delete) or keep them (Retain)."""
        meta = obj["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        manager = field_manager(namespace, name)
        owner = spec.target.creation_policy == "Owner"
        retain = spec.target.deletion_policy == "Retain"
        if not owner and retain:
            return  # keys stay, ownership record stays: nothing to do
        target = await self._live_target(namespace, spec.target.name)
        if target is None or target.get("type") == planning.SERVICE_ACCOUNT_TOKEN:
            return
        observed = planning.Observed(namespace, name, meta["uid"], 0, spec, [], target, {})
        if owner and not retain:
            collected = planning.has_owner_ref(observed)
            if collected and not _other_managers_keys(target, manager):
                return  # the garbage collector deletes the whole Secret: nobody else's keys
            if collected:
                log.info(
                    "owned Secret holds other managers' keys: releasing ours, not deleting it",
                    extra={"sync": f"{namespace}/{name}", "secret": spec.target.name},
                )
        current = target.get("data") or {}
        keep = (
            {k: current[k] for k in (e.key for e in spec.data) if k in current}
            if owner and retain
            else {}
        )
        # Owner+Retain: same keys, no ownerReference. Delete: no keys at all, so
        # server-side apply removes exactly the ones this manager owned (and its
        # ownerReference, which it also owned).
        body = planning.target_body(observed, keep, owned=False)
        await self._client.apply(
            SECRETS.path(namespace, spec.target.name), body, field_manager=manager
        )
        metrics.TARGET_WRITES.inc()

    async def _live_target(self, namespace: str, name: str) -> Obj | None:
        """The target as the API server has it, managedFields included (the cache drops them)."""
        try:
            return await self._client.get(SECRETS.path(namespace, name))
        except ApiError as err:
            if err.status == 404:
                return None
            raise


def _other_managers_keys(secret: Obj, manager: str) -> set[str]:
    """Data keys some field manager other than `manager` owns in `secret`."""
    keys: set[str] = set()
    for entry in secret["metadata"].get("managedFields") or []:
        if entry.get("manager") == manager:
            continue
        data = (entry.get("fieldsV1") or {}).get("f:data") or {}
        keys.update(k[2:] for k in data if k.startswith("f:"))
    return keys


def _status_of(obj: Obj) -> api.SecretSyncStatus:
    """The status as last written; an unreadable one (an older schema) counts as empty."""
    try:
        return api.SecretSyncStatus.model_validate(obj.get("status") or {})
    except ValidationError:
        return api.SecretSyncStatus()


def _keys(status: api.SecretSyncStatus) -> dict[str, api.KeyStatus]:
    return {k.key: k for k in status.keys}


def _strip(obj: Obj) -> Obj:
    obj.get("metadata", {}).pop("managedFields", None)
    return obj


def _invalid_spec_status(obj: Obj, err: ValidationError) -> api.SecretSyncStatus:
    generation = int(obj["metadata"].get("generation") or 0)
    fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in err.errors()[:5])
    return api.SecretSyncStatus(
        observed_generation=generation,
        conditions=[
            Condition(
                type="Ready",
                status="False",
                reason="InvalidSpec",
                message=f"spec is invalid at: {fields}",
                observed_generation=generation,
            )
        ],
    )
