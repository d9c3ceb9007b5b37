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
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
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
    ) -> None:
        self.name = name
        self._reconcile = reconcile
        self.queue: WorkQueue[K] = queue or WorkQueue()
        self._workers = workers

    async def run(self, wait_for: Sequence[asyncio.Event] = ()) -> None:
        for event in wait_for:
            await event.wait()
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
            metrics.RECONCILE_TOTAL.labels(self.name, outcome).inc()
            metrics.RECONCILE_DURATION.labels(self.name).observe(time.perf_counter() - started)
