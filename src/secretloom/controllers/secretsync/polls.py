"""Store polls in the background: bounded in total and per namespace.

Issue 10: a provider call ran inline in the reconcile workers, so four
SecretSyncs (the default worker count) pointing at a store that answers one
byte every five seconds held every worker, and a SecretSync in another
namespace with only Kubernetes sources got 0 of 10 updates. Polls now run as
tasks of their own; a reconcile starts one and returns at once (see
`refresh`), and the finished poll enqueues its SecretSync again.

Background work needs bounds of its own, or one tenant takes them all (the
noisy-neighbour denial of service, CWE-400: a tenant chooses its store's
server, so it chooses how slow that server is):
* `total` polls run at once, cluster-wide (each may hold a provider
  connection and one of its provider's threads);
* `per_namespace` of those at most for any one namespace: a poll waits for
  its namespace's slot before it queues for a global one, so a namespace can
  never occupy more than `per_namespace` of the `total` slots, however many
  hung polls it has, and the others queue in arrival order.
Time bounds for a single provider call are the provider's (a total deadline
per call); these bounds only decide who waits when many are slow.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any


@dataclass
class _Namespace:
    slots: asyncio.Semaphore
    users: int = 0  # polls holding or waiting for a slot; the entry goes at zero


class Polls:
    def __init__(self, *, total: int = 16, per_namespace: int = 4) -> None:
        if not 1 <= per_namespace <= total:
            raise ValueError("poll slots: need 1 <= per_namespace <= total")
        self.total = total
        self.per_namespace = per_namespace
        self._slots: asyncio.Semaphore | None = None
        self._namespaces: dict[str, _Namespace] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, namespace: str, poll: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `poll` once a slot of `namespace` and a global one are free."""
        task = asyncio.create_task(self._bounded(namespace, poll))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def running(self, namespace: str | None = None) -> int:
        """Polls started and not finished (waiting for a slot or running), for tests."""
        if namespace is None:
            return sum(1 for task in self._tasks if not task.done())
        entry = self._namespaces.get(namespace)
        return entry.users if entry else 0

    async def close(self) -> None:
        """Cancel every poll and wait for them to end (at shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _bounded(self, namespace: str, poll: Coroutine[Any, Any, None]) -> None:
        try:
            async with self._namespace_slot(namespace), self._global_slot():
                await poll
        finally:
            poll.close()  # never started (cancelled while waiting): no "never awaited" warning

    @contextlib.asynccontextmanager
    async def _namespace_slot(self, namespace: str) -> AsyncIterator[None]:
        entry = self._namespaces.get(namespace)
        if entry is None:
            entry = self._namespaces[namespace] = _Namespace(asyncio.Semaphore(self.per_namespace))
        entry.users += 1
        try:
            async with entry.slots:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._namespaces[namespace]

    def _global_slot(self) -> asyncio.Semaphore:
        if self._slots is None:  # created on first use, inside the running loop
            self._slots = asyncio.Semaphore(self.total)
        return self._slots
