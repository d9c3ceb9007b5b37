"""Kubernetes Events (events.k8s.io/v1) with a spam filter.

An Event names the object, a CamelCase reason and a note for people. Notes are
built by controllers from key names, field managers and counts, never from
values. A repeated (object, reason, note) inside `dedup_window` is dropped, not
re-sent, so a contested key cannot flood the API server with Events (client-go
has the same filter).

Events are sent in the background, as client-go's broadcaster does: a
reconcile never waits for one (a Normal `Synced` Event per rotation would
otherwise add an API round trip to every write), and at most `max_in_flight`
are pending; beyond that they are dropped with a log line, because an Event
is a courtesy and the status carries the truth. `close` lets the pending ones
finish at shutdown.

Normal Events also share one budget, `normal_qps` (burst `normal_burst`,
`--normal-events-per-second`): each is an etcd write beside the target's.
Measured at 10,000 SecretSyncs, one `Synced` Event per rotation cost the
controller 15% of its CPU (issue 17); at a tenth of that scenario, 20
changes/s on a 2-core control plane, a budget of 5/s (one Event per four
changes) still raised the median propagation from the floor's 20.7 ms to
24.5-29.6 ms, against 20.7 ms with Normal Events off. Hence 1/s (burst 10)
by default. Within the budget every first sync and rotation is recorded; a
burst of thousands records the first ones and counts the rest in
`secretloom_events_dropped_total`; a budget of 0 sends none. Warnings are
never budgeted (only deduplicated and capped in flight): a problem is always
told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from secretloom.api import kubetime
from secretloom.runtime import metrics
from secretloom.runtime.bucket import TokenBucket
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.resources import EVENTS

log = logging.getLogger(__name__)
REPORTING_CONTROLLER = "secretloom.io/controller"
DEFAULT_NORMAL_QPS = 1.0  # Normal Events a second (see the module docstring)


class EventRecorder:
    def __init__(
        self,
        client: KubeClient,
        instance: str,
        *,
        dedup_window: float = 60.0,
        max_in_flight: int = 100,
        normal_qps: float = DEFAULT_NORMAL_QPS,
        normal_burst: int | None = None,  # None: ten seconds' worth
    ) -> None:
        self._client = client
        self._instance = instance[:128]
        self._window = dedup_window
        self._max_in_flight = max_in_flight
        self._recent: dict[tuple[str, str, str], float] = {}
        self._pruned = time.monotonic()
        self._sending: set[asyncio.Task[None]] = set()
        self._normal_off = normal_qps <= 0  # the bucket reads 0 as "no limit"
        burst = normal_burst if normal_burst is not None else max(1, round(10 * normal_qps))
        self._normal = TokenBucket(normal_qps, burst)

    def emit(self, regarding: Obj, reason: str, note: str, *, warning: bool = False) -> None:
        """Send an Event about `regarding` in the background (see the module docstring)."""
        meta = regarding["metadata"]
        fingerprint = (meta.get("uid", ""), reason, note)
        now = time.monotonic()
        if now - self._recent.get(fingerprint, -self._window) < self._window:
            return
        if not warning and (self._normal_off or not self._normal.try_take()):
            metrics.EVENTS_DROPPED.labels("Normal").inc()
            return
        if (
            now - self._pruned > self._window
        ):  # forget old fingerprints once a window, not per Event
            self._recent = {k: t for k, t in self._recent.items() if now - t < self._window}
            self._pruned = now
        self._recent[fingerprint] = now
        namespace = meta.get("namespace") or "default"
        body = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:12]}", "namespace": namespace},
            "eventTime": kubetime.micro_now(),
            "reportingController": REPORTING_CONTROLLER,
            "reportingInstance": self._instance,
            "action": reason,
            "reason": reason,
            "note": note[:1024],
            "type": "Warning" if warning else "Normal",
            "regarding": {
                "apiVersion": regarding.get("apiVersion", ""),
                "kind": regarding.get("kind", ""),
                "name": meta["name"],
                "namespace": namespace,
                "uid": meta.get("uid", ""),
                "resourceVersion": meta.get("resourceVersion", ""),
            },
        }
        if len(self._sending) >= self._max_in_flight:
            log.warning("too many events in flight, dropping one", extra={"reason": reason})
            metrics.EVENTS_DROPPED.labels("Warning" if warning else "Normal").inc()
            return
        task = asyncio.create_task(self._send(namespace, body))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, namespace: str, body: Obj) -> None:
        try:
            await self._client.create(EVENTS.path(namespace), body)
        except Exception as err:  # best effort: a lost Event must not fail anything
            error = str(err) if isinstance(err, ApiError) else type(err).__name__
            log.warning(
                "recording an event failed", extra={"reason": body["reason"], "error": error}
            )

    async def close(self, timeout: float = 5.0) -> None:
        """Give the Events in flight `timeout` seconds to land, then cancel the rest."""
        pending = set(self._sending)
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=timeout)
        for task in late:
            task.cancel()
        for task in late:
            with contextlib.suppress(asyncio.CancelledError):
                await task
