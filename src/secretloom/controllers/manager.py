"""Wires caches, the SecretSync reconciler, leader election and the metrics server.

Start-up order matters for memory and correctness:
1. the SecretSync cache syncs first, so the Secret cache knows which Secrets
   are referenced when it ingests them (and keeps data only for those);
2. the Secret cache syncs;
3. the replica campaigns for the Lease; only the leader runs workers, but
   every replica keeps warm caches (and a full queue), so a standby that takes
   over resumes at once with a full resync.
Event handlers only enqueue: a Secret event maps to the SecretSyncs that read
or write that Secret through an index, never a scan.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from secretloom.controllers.secretsync.drift import DriftTracker
from secretloom.controllers.secretsync.reconciler import SecretSyncReconciler
from secretloom.controllers.secretsync.resources import SYNCS
from secretloom.runtime import metrics
from secretloom.runtime.cache import Cache
from secretloom.runtime.events import EventRecorder
from secretloom.runtime.informer import Key, key_of
from secretloom.runtime.kube import KubeClient, Obj
from secretloom.runtime.leader import LeaderElector, LeaseConfig
from secretloom.runtime.reconcile import Controller
from secretloom.runtime.secrets import SecretCache

log = logging.getLogger(__name__)
SECRET_REFS = "secret-refs"  # noqa: S105 (an index name)


def secret_refs(obj: Obj) -> list[str]:
    """Index: the Secrets (namespace/name) a SecretSync reads or writes."""
    namespace = obj["metadata"].get("namespace", "")
    spec = obj.get("spec") or {}
    refs = {f"{namespace}/{(spec.get('target') or {}).get('name', '')}"}
    for entry in spec.get("data") or []:
        source = entry.get("from") or {}
        if source.get("secret") and source.get("namespace", namespace) in ("", namespace):
            refs.add(f"{namespace}/{source['secret']}")
    return sorted(refs)


def _spec_changed(old: Obj | None, new: Obj | None) -> bool:
    """Ignore our own status writes: only spec and lifecycle metadata trigger."""
    if old is None or new is None:
        return True
    before, after = old["metadata"], new["metadata"]
    return any(
        before.get(f) != after.get(f)
        for f in ("generation", "deletionTimestamp", "finalizers", "annotations", "uid")
    )


@dataclass(frozen=True)
class Options:
    namespaces: Sequence[str] | None = None
    workers: int = 4
    lease: LeaseConfig | None = None
    identity: str = "secretloom"
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 8080


class Manager:
    def __init__(self, client: KubeClient, options: Options) -> None:
        self.options = options
        self.syncs = Cache(client, SYNCS, options.namespaces, indexers={SECRET_REFS: secret_refs})
        self.secrets = SecretCache(client, options.namespaces, self._referenced)
        self.reconciler = SecretSyncReconciler(
            client,
            self.syncs,
            self.secrets,
            EventRecorder(client, options.identity),
            DriftTracker(),
        )
        self.controller: Controller[Key] = Controller(
            "secretsync", self.reconciler, workers=options.workers
        )
        self.elector = (
            LeaderElector(client, options.lease, options.identity) if options.lease else None
        )
        self.syncs.add_handler(self._on_sync)
        self.secrets.cache.add_handler(self._on_secret)

    def _referenced(self, key: Key) -> bool:
        namespace, name = key
        return bool(self.syncs.by_index(SECRET_REFS, f"{namespace}/{name}", namespace))

    def _on_sync(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        if kind == "MODIFIED" and not _spec_changed(old, new):
            return
        obj = new or old
        assert obj is not None
        self.controller.queue.add(key_of(obj))

    def _on_secret(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        del kind
        obj = new or old
        assert obj is not None
        namespace, name = key_of(obj)
        seen = time.perf_counter()
        for key in self.syncs.by_index(SECRET_REFS, f"{namespace}/{name}", namespace):
            self.reconciler.source_seen.setdefault(key, seen)
            self.controller.queue.add(key)

    def ready(self) -> bool:
        return all(e.is_set() for e in (*self.syncs.synced, *self.secrets.cache.synced))

    async def run(self) -> None:
        """Run until cancelled or leadership is lost (then raise SystemExit(1))."""
        server = None
        if self.options.metrics_port is not None:
            server = await metrics.serve(
                self.options.metrics_host, self.options.metrics_port, self.ready
            )
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.syncs.run())
                for event in self.syncs.synced:
                    await event.wait()
                group.create_task(self.secrets.cache.run())
                for event in self.secrets.cache.synced:
                    await event.wait()
                log.info(
                    "caches synced",
                    extra={"secretsyncs": len(self.syncs), "secrets": len(self.secrets.cache)},
                )
                if self.elector is not None:
                    await self.elector.acquire()
                    group.create_task(self._hold_lease())
                group.create_task(self.controller.run())
        finally:
            if self.elector is not None:
                await self.elector.release()
            if server is not None:
                server.close()

    async def _hold_lease(self) -> None:
        assert self.elector is not None
        await self.elector.hold()
        raise SystemExit(1)  # lost the lease: stop writing at once, let the platform restart us
