"""The SecretSync reconciler: observe, plan, act, report.

Level-triggered: it is given a namespaced name and reads the SecretSync, its
sources and its target from the caches (observe), asks `plan` what the
target should hold (plan), writes only the difference with server-side apply
under the SecretSync's own field manager (act), and writes the status and
Events `report` derives from all that. Every decision is a pure function in
`plan`, `report`, `refresh` or `reads`; what stays here is I/O and the
SecretSync's memory record (`memory`).

Conflicts are reported, never fought. The first apply is never forced: a 409
names the other manager of each contested key, and `plan.conflict_retry`
decides key by key, with the SecretSync index saying which managers are
SecretSyncs, and what the second apply holds. A key this SecretSync synced
before and a writer that is not a SecretSync has since taken is drift: it is
taken back with a forced apply, at most as often as the drift backoff allows,
with a `DriftCorrected` Event. `force` takes keys over from SecretSyncs it
outranks (and from other writers only when the operator allows it). Any other
contested key is a conflict: left alone, reported in the `Conflict` condition
and an Event. Any other refusal of the apply (an invalid key, a target over
the API server's size limit, a missing permission) is `Ready=False`, reason
`ApplyFailed`, with the server's message and a Warning Event, retried with a
growing backoff; before, the exception escaped and nothing was written.

Deletion goes through a finalizer, which releases exactly this SecretSync's
keys (deletionPolicy Delete) or leaves them (Retain). An owned Secret that
still holds other managers' keys is not handed to the garbage collector: only
this SecretSync's keys and ownerReference are removed. Finalizers and status
are written by the controller's own field manager, never the per-sync one.

Store entries are polled only when `refresh` says so, never on the reconcile
workers: a due poll starts in the background (`polls`, bounded per
namespace), the reconcile plans at once with the last reads (a store entry
never read yet is Pending: its keys are neither written nor removed), and the
finished poll enqueues the SecretSync again. A provider failure is a
per-entry result, so the poll still completes, the last known good values
stay, the ProviderError condition says why, and the next poll waits a
growing backoff.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import math
import time
from collections.abc import Callable

from pydantic import ValidationError

from secretloom.api import kubetime
from secretloom.api import secretsync as api
from secretloom.api.invalid import invalid_fields
from secretloom.controllers.refresh import RefreshPolicy, jittered
from secretloom.controllers.secretsync import (
    aggregate,
    leases,
    refresh,
    report,
    rollout,
    targets,
    templates,
)
from secretloom.controllers.secretsync import plan as planning
from secretloom.controllers.secretsync.drift import DriftPolicy
from secretloom.controllers.secretsync.memory import Memories, Memory, Poll
from secretloom.controllers.secretsync.naming import (
    CONTROLLER_MANAGER,
    FINALIZER,
    field_manager,
)
from secretloom.controllers.secretsync.polls import Polls
from secretloom.controllers.secretsync.reads import (
    NO_READS,
    StoreReads,
    assemble,
    carry,
    resume,
    unreadable,
)
from secretloom.controllers.secretsync.resources import FIELD_MANAGERS, TARGETS, aggregatable
from secretloom.controllers.secretsync.sources import Sources
from secretloom.controllers.status import pending, write_body, write_status
from secretloom.runtime import metrics
from secretloom.runtime.cache import Cache
from secretloom.runtime.events import EventRecorder
from secretloom.runtime.informer import Key
from secretloom.runtime.kube import ApiError, KubeClient, Obj, Unreachable
from secretloom.runtime.meta import data_keys_by_manager, recorded_owners, strip_managed_fields
from secretloom.runtime.queue import RateLimiter
from secretloom.runtime.reconcile import Result, TerminalError
from secretloom.runtime.resources import SECRET_SYNCS, SECRETS
from secretloom.runtime.secrets import SecretCache

log = logging.getLogger(__name__)
_MESSAGE_LIMIT = 1024  # of the API server's refusal, in the status and the Event


class SecretSyncReconciler:
    def __init__(
        self,
        client: KubeClient,
        syncs: Cache,
        secrets: SecretCache,
        events: EventRecorder,
        sources: Sources,
        *,
        requeue: Callable[[Key], None],
        polls: Polls | None = None,
        policy: RefreshPolicy | None = None,
        force_foreign: bool = False,
        aggregate_writers: int = aggregate.DEFAULT_THRESHOLD,
    ) -> None:
        self._client = client
        self._syncs = syncs
        self._secrets = secrets
        self._events = events
        self._sources = sources
        self._requeue = requeue
        self._polls = polls or Polls()
        self._drift = DriftPolicy()
        self._policy = policy or RefreshPolicy()
        self._force_foreign = force_foreign
        self._memory = Memories(self._drift)
        self._rollouts = rollout.Rollouts(client, events)
        self._leases = leases.Leases(sources, self._polls, requeue)
        self._aggregate_writers = aggregate_writers
        self._aggregated = targets.AggregatedWrites(
            client,
            secrets,
            claims=self._aggregated_claims,
            holder=self._holder,
            force_foreign=force_foreign,
        )
        # Failed polls and refused applies back off per SecretSync (the count is
        # in its memory record) and together through one global token bucket.
        self._retries: RateLimiter[Key] = RateLimiter(
            base_delay=self._policy.backoff_base, max_delay=self._policy.backoff_max
        )

    # -- what the manager tells the reconciler ----------------------------------

    def invalidate(self, key: Key) -> None:
        """Poll the stores of `key` again now (a store it uses changed)."""
        memory = self._memory.get(key)
        if memory is not None:
            memory.stop_polling()  # it reads with the old store
            if memory.reads is not None:
                memory.reads = dataclasses.replace(memory.reads, expires=-math.inf)

    def disown(self, key: Key) -> None:
        """Another replica works on `key` now (its shard moved): forget it, stop its poll."""
        self._memory.forget(key)

    def wrote(self, key: Key, version: str) -> bool:
        """Did `key`'s own last target write make this version of its target?

        Then that write's watch event has nothing to tell it: without this,
        every write woke its own writer for a reconcile with nothing to do
        (issue 17). Any other SecretSync whose keys the write changed (one
        whose key was taken with `force`) is still woken.
        """
        memory = self._memory.get(key)
        return memory is not None and bool(version) and memory.wrote == version

    def saw_source_change(self, key: Key, at: float) -> None:
        """A source of `key` changed at `at` (perf_counter): for the propagation metric."""
        memory = self._memory.of(key)
        if memory.source_seen is None:
            memory.source_seen = at

    @property
    def polls(self) -> Polls:
        """The background store polls (read them; for tests and debugging)."""
        return self._polls

    async def close(self) -> None:
        """Stop every poll (at shutdown)."""
        self._memory.close()
        await self._aggregated.close()
        await self._polls.close()

    # -- the reconcile ------------------------------------------------------------

    async def __call__(self, key: Key) -> Result:
        obj = self._syncs.get(key)
        if obj is None:
            self._memory.forget(key)
            return Result()
        if obj["metadata"].get("deletionTimestamp"):
            self._memory.forget(key)
            await self._finalize(obj)
            return Result()
        if FINALIZER not in (obj["metadata"].get("finalizers") or []):
            await self._set_finalizer(obj, present=True)
        try:
            spec = api.SecretSyncSpec.model_validate(obj["spec"])
        except ValidationError as err:
            self._memory.forget(key)
            generation = int(obj["metadata"].get("generation") or 0)
            await self._write_status(obj, report.invalid_spec(generation, err))
            raise TerminalError(f"invalid spec at: {invalid_fields(err)}") from None
        return await self._sync(key, obj, spec)

    async def _sync(self, key: Key, obj: Obj, spec: api.SecretSyncSpec) -> Result:
        namespace, name = key
        memory = self._memory.of(key)
        now = time.monotonic()
        # Observe: the SecretSync, its target, its sources; store reads from memory.
        meta = obj["metadata"]
        status = _status_of(obj)
        previous = memory.versions.overlay(_keys(status))
        ask = refresh.Ask(
            int(meta.get("generation") or 0), refresh.request_of(meta.get("annotations"))
        )
        target = await self._secrets.get_with_data(namespace, spec.target.name)
        kubernetes = await self._sources.kubernetes_entries(namespace, spec)
        reads, polled = self._store_reads(key, memory, ask, spec, status, target, now)
        resolved, data_from = assemble(spec, kubernetes, reads, previous)
        dynamic, annotations, held, lease_in = self._leases.observe(
            key, memory.leases, spec, target, status
        )
        resolved = templates.render_all(spec, leases.merged(resolved, dynamic))
        observed = planning.Observed(
            namespace,
            name,
            meta["uid"],
            ask.generation,
            spec,
            resolved,
            target,
            previous,
            annotations,
        )
        # Plan.
        planned = planning.plan(observed)
        # Act.
        outcome, retry_in = await self._act(key, memory, observed, planned, now)
        # Report.
        contested = memory.corrections.contested(time.monotonic())
        new_status = report.status(
            observed=observed,
            planned=planned,
            outcome=outcome,
            data_from=data_from,
            reads=polled,
            reads_stores=spec.uses_stores(),
            contested=contested,
        )
        notes = report.events(
            observed=observed,
            planned=planned,
            outcome=outcome,
            keys=new_status.keys,
            drift_window=self._drift.window,
        )
        self._record(obj, planned, outcome, notes)
        changed = rollout.effective_change(outcome.written, previous)
        restarts, restart_in = await self._rollouts.step(obj, spec, status.rollout, changed=changed)
        new_status = new_status.model_copy(update={"rollout": restarts, "leases": held})
        to_write, flush_in = memory.versions.defer(new_status, obj.get("status") or {}, now)
        body = pending(obj, to_write)
        if flush_in is not None and body is not None:
            flush_in = None  # writing anyway: write it all
            body = pending(obj, new_status)
            memory.versions.clear()
        meta = obj["metadata"]
        path = SECRET_SYNCS.path(meta["namespace"], meta["name"], "status")
        await write_body(self._client, self._syncs, path, obj, body)
        metrics.SYNC_TOTAL.labels(outcome.result).inc()
        reads_expire = None  # a poll in flight enqueues the SecretSync when it ends
        if memory.poll is None and memory.reads is not None and memory.reads.expires < math.inf:
            reads_expire = memory.reads.expires - now
        return Result(
            requeue_after=report.earliest(
                reads_expire,
                retry_in,
                self._drift.window if contested else None,
                flush_in,
                restart_in,
                lease_in,
            )
        )

    # -- store reads: remembered, resumed, or polled in the background -------------

    def _store_reads(
        self,
        key: Key,
        memory: Memory,
        ask: refresh.Ask,
        spec: api.SecretSyncSpec,
        status: api.SecretSyncStatus,
        target: Obj | None,
        now: float,
    ) -> tuple[StoreReads, refresh.Remembered | None]:
        """The store reads to plan with, and the poll whose times the status reports.

        Never waits for a store: a due poll is started in the background and,
        meanwhile, the last reads stand in (`carry`), Pending where there are none.
        """
        if not spec.uses_stores():
            memory.stop_polling()
            memory.reads, memory.poll_failures = None, 0
            return NO_READS, None
        if memory.reads is None:
            memory.reads = self._resumed(key, ask, spec, status, target, now)
        if refresh.due(memory.reads, ask, now):
            self._start_poll(key, memory, ask, spec, status.last_refresh_time)
        kept = memory.reads
        if kept is not None and kept.ask == ask:
            return kept.reads, kept
        carried = carry(kept.reads if kept else None, spec, key[0], status.data_from)
        return carried, refresh.meanwhile(kept, status, ask, carried)

    def _resumed(
        self,
        key: Key,
        ask: refresh.Ask,
        spec: api.SecretSyncSpec,
        status: api.SecretSyncStatus,
        target: Obj | None,
        now: float,
    ) -> refresh.Remembered | None:
        """The last poll as the status and the target vouch for it, after a restart."""
        window = refresh.resume_window(
            status,
            generation=ask.generation,
            request=ask.request,
            interval=spec.refresh_seconds(),
            now=datetime.datetime.now(datetime.UTC),
        )
        if window is None:
            return None
        reads = resume(spec, key[0], _keys(status), status.data_from, target)
        if reads is None:
            return None
        return refresh.Remembered(
            reads, ask, now + window, status.last_refresh_time, status.next_refresh_time
        )

    def _start_poll(
        self,
        key: Key,
        memory: Memory,
        ask: refresh.Ask,
        spec: api.SecretSyncSpec,
        last_refresh: str,
    ) -> None:
        if memory.poll is not None and memory.poll.ask == ask:
            return  # already reading for this spec and request
        memory.stop_polling()  # reading for an older spec or request
        task = self._polls.start(key[0], self._poll(key, memory, ask, spec, last_refresh))
        memory.poll = Poll(task, ask)

    async def _poll(
        self,
        key: Key,
        memory: Memory,
        ask: refresh.Ask,
        spec: api.SecretSyncSpec,
        last_refresh: str,
    ) -> None:
        """One poll, in the background: remember what it read, then enqueue the SecretSync."""
        # A routine poll may take another SecretSync's read of the same value up to half an
        # interval old; a new spec or refresh annotation reads afresh (`shared.py`).
        routine = memory.reads is not None and memory.reads.ask == ask
        max_age = spec.refresh_seconds() / 2 if routine else 0.0
        try:
            reads = await self._sources.poll(key[0], spec, max_age=max_age)
        except Exception as err:  # providers report failures as results; this is a bug
            log.warning(
                "polling stores failed",
                extra={"sync": "/".join(key), "error": type(err).__name__},
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            message = "reading the store failed unexpectedly (see the controller log)"
            reads = unreadable(spec, key[0], message)
        if memory.poll is None or memory.poll.task is not asyncio.current_task():
            return  # superseded while it ran
        memory.poll = None
        now, wall = time.monotonic(), datetime.datetime.now(datetime.UTC)
        interval = spec.refresh_seconds()
        if reads.provider_failed:
            delay = jittered(self._retries.after(memory.poll_failures), self._policy.jitter)
            memory.poll_failures += 1
        else:
            memory.poll_failures = 0
            last_refresh = kubetime.format_time(wall)
            delay = jittered(interval, self._policy.jitter) if interval > 0 else math.inf
        upcoming = (
            kubetime.format_time(wall + datetime.timedelta(seconds=delay))
            if delay < math.inf
            else ""
        )
        memory.reads = refresh.Remembered(reads, ask, now + delay, last_refresh, upcoming)
        log.debug(
            "polled stores",
            extra={"sync": "/".join(key), "failed": reads.provider_failed, "next_in": delay},
        )
        self._requeue(key)

    # -- act: the target apply ----------------------------------------------------

    async def _act(
        self,
        key: Key,
        memory: Memory,
        observed: planning.Observed,
        planned: planning.Plan,
        now: float,
    ) -> tuple[report.Outcome, float | None]:
        """Write the plan; the outcome, and when to try again if it was held back."""
        if planned.apply is None:
            return report.Outcome("waiting" if planned.target_missing else "unchanged"), None
        if planned.drift_keys and (backoff := memory.corrections.wait(now)) > 0:
            return report.Outcome("backoff"), backoff
        try:
            if self._aggregates(observed):
                outcome, wait = await self._write_aggregated(key, memory, observed, planned)
            else:
                outcome, wait = await self._apply(key, memory, observed, planned)
        except Unreachable:
            raise  # no answer at all: the work queue retries, nothing to report
        except ApiError as err:
            if err.status == 409:
                raise  # the retry raced another writer: start over from the cache
            delay = self._retries.after(memory.apply_failures)
            memory.apply_failures += 1
            log.warning(
                "target apply refused",
                extra={"sync": "/".join(key), "status": err.status, "error": err.message},
            )
            refusal = f"{err.status} {err.reason}: {err.message}"[:_MESSAGE_LIMIT]
            return report.Outcome("error", error=refusal), delay
        memory.apply_failures = 0
        return outcome, wait

    async def _apply(
        self,
        key: Key,
        memory: Memory,
        observed: planning.Observed,
        planned: planning.Plan,
    ) -> tuple[report.Outcome, float | None]:
        assert planned.apply is not None
        manager = field_manager(*key)
        target = (observed.namespace, observed.spec.target.name)
        path = SECRETS.path(*target)
        try:
            answer = await self._client.apply(path, planned.apply, field_manager=manager)
        except ApiError as err:
            if err.status != 409:
                raise
            owners = planning.conflicts_of(err)
        else:
            self._saw_write(key, answer)
            if recorded_owners(observed.target):  # it was aggregated and is no longer
                await self._aggregated.disband(target)
            written = planned.changed - planned.drift_keys
            outcome = report.Outcome("written", corrected=planned.drift_keys, written=written)
            return self._written(memory, key, outcome), None
        retry = planning.conflict_retry(
            observed,
            planned,
            owners,
            ours=self._claim(observed.namespace, self._syncs.get(key)),
            holders={m: self._holder(observed.namespace, m) for m in set(owners.values())},
            force_foreign=self._force_foreign,
            moving=dict.fromkeys(
                [k for k, s in recorded_owners(observed.target).items() if s == key[1]],
                aggregate.aggregate_manager(*target),
            ),
        )
        resolution, foreign = retry.resolution, retry.resolution.yielded
        if resolution.retake and (wait := memory.corrections.wait(time.monotonic())) > 0:
            log.info(
                "drift correction backing off",
                extra={"sync": "/".join(key), "keys": sorted(resolution.retake), "wait": wait},
            )
            return report.Outcome("backoff", conflicting=foreign), wait
        if retry.body is None:
            return report.Outcome("conflict", conflicting=foreign), None
        self._saw_write(
            key,
            await self._client.apply(path, retry.body, field_manager=manager, force=retry.force),
        )
        if recorded_owners(observed.target):
            await self._aggregated.disband(target)
        if resolution.take_over:
            log.info(
                "took over keys (spec.target.force)",
                extra={
                    "sync": "/".join(key),
                    "keys": sorted(resolution.take_over),
                    "from": sorted({owners[k] for k in resolution.take_over}),
                },
            )
        corrected = resolution.retake | planned.drift_keys
        outcome = report.Outcome(
            "conflict" if foreign else "written",
            conflicting=foreign,
            corrected=corrected,
            writers=tuple(sorted({owners[k] for k in resolution.retake})),
            written=planned.changed - corrected - foreign.keys(),
        )
        return self._written(memory, key, outcome), None

    # -- act: aggregated targets (aggregate.py, targets.py) --------------------------

    def _aggregates(self, observed: planning.Observed) -> bool:
        """Does this SecretSync write its target through the aggregated manager?"""
        obj = self._syncs.get((observed.namespace, observed.name))
        if obj is None or not aggregatable(obj):
            return False
        writers = self._syncs.by_index(TARGETS, observed.spec.target.name, observed.namespace)
        return aggregate.is_aggregated(self._aggregate_writers, len(writers), observed.target)

    def _aggregated_claims(self, namespace: str, target: str) -> dict[str, planning.Claim]:
        """The SecretSyncs writing `target` through its aggregated manager, by name."""
        claims = {}
        for key in self._syncs.by_index(TARGETS, target, namespace):
            obj = self._syncs.get(key)
            if obj is not None and aggregatable(obj):
                claims[key[1]] = self._claim(namespace, obj)
        return claims

    async def _write_aggregated(
        self,
        key: Key,
        memory: Memory,
        observed: planning.Observed,
        planned: planning.Plan,
    ) -> tuple[report.Outcome, float | None]:
        """Hand the planned keys to the target's next coalesced apply; what it did for us."""
        contribution = aggregate.Contribution(
            sync=observed.name,
            claim=self._claim(observed.namespace, self._syncs.get(key)),
            data=planned.desired,
            type=observed.spec.target.type,
            synced_before=frozenset(k for k, s in observed.previous.items() if s.state == "Synced"),
            may_retake=memory.corrections.wait(time.monotonic()) <= 0,
        )
        done = await self._aggregated.write(
            (observed.namespace, observed.spec.target.name), contribution
        )
        if done.version:
            memory.wrote = done.version
        if done.held_back:
            wait = memory.corrections.wait(time.monotonic())
            return report.Outcome("backoff", conflicting=done.yielded), wait
        if not done.applied and not done.yielded:
            return report.Outcome("unchanged"), None
        outcome = report.Outcome(
            "conflict" if done.yielded else "written",
            conflicting=done.yielded,
            corrected=done.retaken,
            written=done.changed - done.retaken,
        )
        return self._written(memory, key, outcome), None

    def _saw_write(self, key: Key, answer: Obj) -> None:
        """Count a target write and remember the version it made (see `wrote`)."""
        metrics.TARGET_WRITES.inc()
        self._memory.of(key).wrote = answer["metadata"].get("resourceVersion", "")

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

    def _written(self, memory: Memory, key: Key, outcome: report.Outcome) -> report.Outcome:
        seen, memory.source_seen = memory.source_seen, None
        if seen is not None:
            metrics.PROPAGATION.observe(time.perf_counter() - seen)
        if not outcome.corrected:
            return outcome
        count = memory.corrections.record(time.monotonic())
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

    # -- report -----------------------------------------------------------------------

    def _record(
        self,
        obj: Obj,
        planned: planning.Plan,
        outcome: report.Outcome,
        notes: list[report.Note],
    ) -> None:
        if outcome.conflicting:
            metrics.CONFLICTS.inc(len(outcome.conflicting))
        for problem in planned.problems:
            metrics.SYNC_ERRORS.labels(problem.reason).inc()
        if outcome.error:
            metrics.SYNC_ERRORS.labels(planning.APPLY_FAILED).inc()
        for note in notes:
            self._events.emit(obj, note.reason, note.message, warning=note.warning)

    async def _write_status(self, obj: Obj, status: api.SecretSyncStatus) -> None:
        meta = obj["metadata"]
        path = SECRET_SYNCS.path(meta["namespace"], meta["name"], "status")
        await write_status(self._client, self._syncs, path, obj, status)

    # -- deletion -----------------------------------------------------------------

    async def _set_finalizer(self, obj: Obj, *, present: bool) -> None:
        meta = obj["metadata"]
        body: Obj = {
            "apiVersion": f"{api.GROUP}/{api.VERSION}",
            "kind": api.KIND,
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        }
        if present:
            body["metadata"]["finalizers"] = [FINALIZER]
        path = SECRET_SYNCS.path(meta["namespace"], meta["name"])
        try:
            updated = await self._client.apply(path, body, field_manager=CONTROLLER_MANAGER)
        except ApiError as err:
            if err.status == 404:
                return
            raise
        # An update of the cached object only: once the last finalizer is gone the
        # object is deleted, and the watch's DELETED may already have been seen.
        self._syncs.put(strip_managed_fields(updated))

    async def _finalize(self, obj: Obj) -> None:
        meta = obj["metadata"]
        if FINALIZER not in (meta.get("finalizers") or []):
            return
        namespace, name = meta["namespace"], meta["name"]
        try:
            spec = api.SecretSyncSpec.model_validate(obj["spec"])
        except ValidationError:
            spec = None  # nothing was ever written for an invalid spec
        if spec is not None and spec.dynamic:
            live = await self._live_target(namespace, spec.target.name)
            await self._leases.release((namespace, name), None, spec, live)
        if spec is not None:
            await self._release(obj, spec)
        await self._set_finalizer(obj, present=False)
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
        if name in recorded_owners(target).values():  # its keys went through the aggregate
            release = aggregate.Contribution(
                name, self._claim(namespace, obj), {}, spec.target.type
            )
            await self._aggregated.write((namespace, spec.target.name), release)
            if manager not in data_keys_by_manager(target):
                return  # it never wrote as its own manager: nothing more to let go
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
        # Owner+Retain: every key this manager owns (data, templates, dataFrom and dynamic
        # ones alike), no ownerReference. Delete: no keys at all, so server-side apply
        # removes exactly the ones this manager owned (and its ownerReference, which it
        # also owned).
        mine = data_keys_by_manager(target).get(manager, set()) if owner and retain else set()
        keep = {k: current[k] for k in sorted(mine) if k in current}
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
    owners = data_keys_by_manager(secret)
    return set().union(*(keys for who, keys in owners.items() if who != manager))


def _status_of(obj: Obj) -> api.SecretSyncStatus:
    """The status as last written; an unreadable one (an older schema) counts as empty."""
    try:
        return api.SecretSyncStatus.model_validate(obj.get("status") or {})
    except ValidationError:
        return api.SecretSyncStatus()


def _keys(status: api.SecretSyncStatus) -> dict[str, api.KeyStatus]:
    return {k.key: k for k in status.keys}
