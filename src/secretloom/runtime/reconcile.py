"""The reconcile contract and the worker loop that drives it.

`reconcile(key) -> Result` is controller-runtime's contract: the request is a
namespaced name, never the event; the reconciler reads current state from the
cache and converges it (level-triggered). Outcomes:

- `Result()`: done; the key's backoff is forgotten.
- `Result(requeue_after=T)`: done for now, look again in T seconds (planned
  refresh, drift backoff).
- an exception: retried with the queue's rate limiter (per-key exponential
  backoff + global token bucket).
- `TerminalError`: recorded, not retried; only a new event brings the key back.

Workers start only after every informer has synced, and there are exactly
`workers` of them: concurrency is an explicit knob.

A reconcile that never returns holds its worker forever, and with every
worker held nothing converges while the process looks alive (issue 10: four
SecretSyncs on a store that answered one byte every five seconds did exactly
that, and `/healthz` said ok). So the controller knows when each running
reconcile started: `busy_for()` is the age of the oldest, and the manager's
liveness probe fails once it passes a bound, so the platform restarts a
process whose workers are stuck rather than leaving it silently wedged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from secretloom.runtime import metrics
from secretloom.runtime.queue import ShutDown, WorkQueue

log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Result:
    requeue_after: float | None = None


class TerminalError(Exception):
    """An error retrying cannot fix (e.g. invalid spec); the message is user-facing."""


class Controller(Generic[K]):
    def __init__(
        self,
        name: str,
        reconcile: Callable[[K], Awaitable[Result]],
        *,
        queue: WorkQueue[K] | None = None,
        workers: int = 4,
        clock: Callable[[], float] = time.monotonic,  # for tests
    ) -> None:
        self.name = name
        self._reconcile = reconcile
        # Not `queue or ...`: an empty queue is falsy, and a caller's queue must be the one used.
        self.queue: WorkQueue[K] = queue if queue is not None else WorkQueue()
        self._workers = workers
        self._clock = clock
        self._running: dict[K, float] = {}  # key -> when its reconcile started

    def busy_for(self) -> float:
        """Seconds the longest-running reconcile has been running (0 when idle)."""
        if not self._running:
            return 0.0
        return self._clock() - min(self._running.values())

    async def run(self) -> None:
        log.info("starting workers", extra={"controller": self.name, "workers": self._workers})
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(self._workers):
                    group.create_task(self._worker())
        finally:
            self.queue.shutdown()

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                await self._process(key)
            finally:
                self.queue.done(key)
                metrics.WORKQUEUE_DEPTH.labels(self.name).set(len(self.queue))

    async def _process(self, key: K) -> None:
        started = time.perf_counter()
        self._running[key] = self._clock()
        outcome = "success"
        try:
            result = await self._reconcile(key)
        except TerminalError as err:
            outcome = "terminal"
            self.queue.forget(key)
            log.warning("reconcile failed permanently", extra={"key": str(key), "error": str(err)})
        except Exception as err:
            outcome = "error"
            self.queue.add_rate_limited(key)
            # Error text from our own code and the API server never carries
            # secret values (see docs/security.md); a traceback goes to DEBUG.
            log.warning(
                "reconcile failed, retrying",
                extra={"key": str(key), "error": f"{type(err).__name__}: {err}"},
            )
            log.debug("reconcile traceback", exc_info=True, extra={"key": str(key)})
        else:
            self.queue.forget(key)
            if result.requeue_after is not None:
                self.queue.add_after(key, result.requeue_after)
        finally:
            del self._running[key]
            metrics.RECONCILE_TOTAL.labels(self.name, outcome).inc()
            metrics.RECONCILE_DURATION.labels(self.name).observe(time.perf_counter() - started)
