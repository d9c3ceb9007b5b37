"""Wires caches, the SecretSync and store reconcilers, leader election and metrics.

Start-up order matters for memory and correctness:
1. the SecretSync cache syncs first, so the Secret cache knows which Secrets
   are referenced when it ingests them (and keeps data only for those);
2. the Secret cache and the store caches sync;
3. the replica campaigns for the Lease; only the leader runs workers, but
   every replica keeps warm caches (and a full queue), so a standby that takes
   over resumes at once with a full resync. With `--shards N` (runtime/shards.py)
   every replica runs workers at once, each reconciling only the namespaces of
   the shards it holds; taking a shard enqueues that shard's objects.
Event handlers only enqueue: a Secret event maps to the SecretSyncs that read
or write that Secret, and a store event to the SecretSyncs that use the store,
through indexes, never a scan. A store change also makes those SecretSyncs
poll again at once (their remembered reads came from the old spec). What a
handler learns for the SecretSync reconciler (a store changed, a source event
was seen) goes through the reconciler's methods; its memory is its own.

Liveness: `/healthz` fails once some reconcile has run longer than
`stuck_after` (a worker that never comes back converges nothing while the
process looks alive); `/readyz` stays about the caches. Store polls run
outside the workers, bounded by `poll_slots` in total and
`poll_slots_per_namespace` for any one namespace (see `secretsync.polls`).

Sealing (issue #13) is on when `sealing_namespace` is set: the leader keeps
the key ring there (controllers.sealing.keys) and SecretSync entries with
`from.sealed` open with it; a change of keys requeues those SecretSyncs
(SEALED index), so a value waiting for an imported key opens once it lands.
SealedSecrets are watched only then too; each is written by a SecretSync it
owns (controllers.sealedsecret), and that SecretSync's events enqueue it.
With `serve_bitnami` too, Bitnami's `bitnami.com/v1alpha1` SealedSecrets are
served the same way (off by default: the operator opts in when switching).

ClusterSecretStores are cluster-scoped, so watching them (and the Namespaces
their label selectors match) needs a ClusterRole. That is the default in
cluster-wide mode; in namespaced mode (`--namespaces`, Roles only) they are
not watched unless `cluster_stores` says so, and a SecretSync naming one is
told why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import rsa

from secretloom.api.stores import CLUSTER_STORE_KIND, STORE_KIND
from secretloom.controllers.refresh import RefreshPolicy
from secretloom.controllers.sealedsecret.reconciler import (
    BITNAMI_SEALED_SECRETS,
    SEALED_SECRETS,
    SealedSecretReconciler,
)
from secretloom.controllers.sealedsecret.translate import BITNAMI, SECRETLOOM, owner_key
from secretloom.controllers.sealing.keys import KeyManager
from secretloom.controllers.secretstore.clients import ProviderClients
from secretloom.controllers.secretstore.lookup import StoreKey, StoreLookup, store_key
from secretloom.controllers.secretstore.reconciler import StoreReconciler
from secretloom.controllers.secretsync.aggregate import DEFAULT_THRESHOLD
from secretloom.controllers.secretsync.polls import Polls
from secretloom.controllers.secretsync.reconciler import SecretSyncReconciler
from secretloom.controllers.secretsync.resources import (
    FIELD_MANAGERS,
    TARGETS,
    manager_index,
    target_index,
)
from secretloom.controllers.secretsync.sources import Sources
from secretloom.providers import registry as provider_registry
from secretloom.providers.egress import EgressPolicy
from secretloom.providers.protocol import DEFAULT_TIMEOUT as DEFAULT_PROVIDER_TIMEOUT
from secretloom.runtime import heap, metrics
from secretloom.runtime.cache import Cache
from secretloom.runtime.events import DEFAULT_NORMAL_QPS, EventRecorder
from secretloom.runtime.informer import Handler, IndexFunc, Key, object_key
from secretloom.runtime.kube import KubeClient, Obj
from secretloom.runtime.leader import LeaderElector, LeaseConfig
from secretloom.runtime.queue import WorkQueue
from secretloom.runtime.reconcile import Controller, Result
from secretloom.runtime.resources import (
    CLUSTER_SECRET_STORES,
    NAMESPACES,
    SECRET_STORES,
    SECRET_SYNCS,
)
from secretloom.runtime.secrets import STRIPPED, SecretCache
from secretloom.runtime.shards import ShardLost, Shards, shard_of
from secretloom.runtime.tokens import TokenPolicy

log = logging.getLogger(__name__)
SECRET_REFS = "secret-refs"  # noqa: S105 (an index name)
STORE_REFS = "store-refs"
ANY_CLUSTER_STORE = CLUSTER_STORE_KIND  # index value: uses some ClusterSecretStore
SEALED = "sealed"  # index (and its one value): has a from.sealed entry


def sealed_refs(obj: Obj) -> list[str]:
    """Index: SEALED when a SecretSync has an entry with a sealed value."""
    entries = (obj.get("spec") or {}).get("data") or []
    return [SEALED] if any((e.get("from") or {}).get("sealed") for e in entries) else []


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


def _changed_keys(old: Obj | None, new: Obj | None) -> set[str] | None:
    """The data keys a Secret event changed; None when more than data changed or is unknown."""
    if old is None or new is None or STRIPPED in old or STRIPPED in new:
        return None
    before, after = old["metadata"], new["metadata"]
    if any(
        before.get(f) != after.get(f) for f in ("annotations", "ownerReferences", "uid")
    ) or old.get("type") != new.get("type"):
        return None
    data_old, data_new = old.get("data") or {}, new.get("data") or {}
    return {k for k in data_old.keys() | data_new.keys() if data_old.get(k) != data_new.get(k)}


def _reads(sync: Obj, secret: str) -> bool:
    """Does this SecretSync read `secret` (same namespace) as a source?"""
    entries = (sync.get("spec") or {}).get("data") or []
    return any((e.get("from") or {}).get("secret") == secret for e in entries)


def _concerns(sync: Obj, secret: str, changed: set[str]) -> bool:
    """Does a change of `changed` data keys of `secret` concern this SecretSync?

    Yes when it reads that Secret, or writes one of those keys, or may (keys it
    only learns by reading: `dataFrom`, templates, dynamic entries). A write that
    touched only other writers' keys of a shared target does not: with a hundred
    writers into one Secret, waking all of them on every write is the fan-in cost
    issue 17 measured, for nothing.
    """
    spec = sync.get("spec") or {}
    entries = spec.get("data") or []
    if _reads(sync, secret):
        return True  # a source (a SecretSync may also read its own target)
    if spec.get("dataFrom") or spec.get("templates") or spec.get("dynamic"):
        return True
    return any(e.get("key") in changed for e in entries)


def store_ref(key: StoreKey) -> str:
    return "/".join(key)


def store_refs(obj: Obj) -> list[str]:
    """Index: the stores a SecretSync reads, as `store_ref` strings (plus ANY_CLUSTER_STORE)."""
    namespace = obj["metadata"].get("namespace", "")
    spec = obj.get("spec") or {}
    stores = [(e.get("from") or {}).get("store") for e in spec.get("data") or []]
    stores += [e.get("store") for e in spec.get("dataFrom") or []]
    refs: set[str] = set()
    for store in stores:
        if not isinstance(store, dict) or not store.get("name"):
            continue
        if store.get("kind") == CLUSTER_STORE_KIND:
            refs |= {store_ref((CLUSTER_STORE_KIND, "", store["name"])), ANY_CLUSTER_STORE}
        else:
            refs.add(store_ref((STORE_KIND, namespace, store["name"])))
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
    # More than 1: the work is split over this many shard Leases (needs `lease`).
    shards: int = 1
    identity: str = "secretloom"
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 8080
    cluster_stores: bool | None = None  # None: watched in cluster-wide mode only
    refresh: RefreshPolicy = field(default_factory=RefreshPolicy)
    # The operator's say over store logins and connections (see docs/stores.md).
    tokens: TokenPolicy = field(default_factory=TokenPolicy)
    store_servers: EgressPolicy = field(default_factory=EgressPolicy)
    # Seconds every store call may take in all (`--provider-timeout`).
    provider_timeout: float = DEFAULT_PROVIDER_TIMEOUT
    # `spec.target.force` may take keys from writers that are not SecretSyncs.
    force_foreign: bool = False
    # A target with this many SecretSyncs is written by one aggregated manager (0: never).
    aggregate_writers: int = DEFAULT_THRESHOLD
    # Store polls in flight: in total, and for any one namespace.
    poll_slots: int = 16
    poll_slots_per_namespace: int = 4
    # /healthz fails once a reconcile has run this long (seconds).
    stuck_after: float = 300.0
    # Sealing keys live here (None: sealing off); a new key after this many seconds.
    sealing_namespace: str | None = None
    sealing_renew_period: float = 30 * 24 * 3600.0
    # Also serve bitnami.com/v1alpha1 SealedSecrets (needs sealing_namespace).
    serve_bitnami: bool = False
    # Exempt the synced caches from the garbage collector's scans (runtime/heap.py);
    # the controller process does, code sharing the process with it should not.
    freeze_heap: bool = False
    # Normal Events a second across the controller, burst ten seconds' worth (0: none).
    normal_events_per_second: float = DEFAULT_NORMAL_QPS


class Manager:
    def __init__(self, kube: KubeClient, options: Options) -> None:
        self.options = options
        indexers: dict[str, IndexFunc] = {
            SECRET_REFS: secret_refs,
            STORE_REFS: store_refs,
            FIELD_MANAGERS: manager_index,
            TARGETS: target_index,
            SEALED: sealed_refs,
        }
        self.syncs = Cache(kube, SECRET_SYNCS, options.namespaces, indexers=indexers)
        self.secrets = SecretCache(kube, options.namespaces, self._referenced)
        self.stores = Cache(kube, SECRET_STORES, options.namespaces)
        cluster_wide = not options.namespaces
        watch_cluster = cluster_wide if options.cluster_stores is None else options.cluster_stores
        self.cluster_stores = Cache(kube, CLUSTER_SECRET_STORES, None) if watch_cluster else None
        self.namespaces = Cache(kube, NAMESPACES, None) if watch_cluster else None
        registry = provider_registry.load()
        self.provider_clients = ProviderClients(
            kube,
            registry,
            tokens=options.tokens,
            egress=options.store_servers,
            timeout=options.provider_timeout,
        )
        lookup = StoreLookup(self.stores, self.cluster_stores, self.namespaces)
        self.events = EventRecorder(
            kube, options.identity, normal_qps=options.normal_events_per_second
        )
        queue: WorkQueue[Key] = WorkQueue()
        self.keys = (
            KeyManager(
                kube,
                options.sealing_namespace,
                renew_period=options.sealing_renew_period,
                on_change=self._on_sealing_keys,
                # Sharded: every replica loads the keys; the sealing namespace's shard renews.
                writer=lambda: self._owns(options.sealing_namespace or ""),
            )
            if options.sealing_namespace
            else None
        )
        self.sources = Sources(
            kube,
            self.secrets,
            lookup,
            self.provider_clients,
            registry,
            sealing_keys=self._sealing_keys if self.keys is not None else None,
        )
        self.reconciler = SecretSyncReconciler(
            kube,
            self.syncs,
            self.secrets,
            self.events,
            self.sources,
            requeue=queue.add,  # a finished store poll
            polls=Polls(total=options.poll_slots, per_namespace=options.poll_slots_per_namespace),
            policy=options.refresh,
            force_foreign=options.force_foreign,
            aggregate_writers=options.aggregate_writers,
        )
        sharded = options.lease is not None and options.shards > 1
        self.shards = (
            Shards(
                kube,
                options.lease,
                options.identity,
                options.shards,
                on_acquired=self._took_shard,
            )
            if sharded and options.lease is not None
            else None
        )
        self.elector = (
            LeaderElector(kube, options.lease, options.identity)
            if options.lease and not sharded
            else None
        )
        if self.shards is not None:
            kube.fence = self.shards.may_write  # per namespace: only the held shards'
        elif self.elector is not None:
            elector = self.elector
            kube.fence = lambda _path: elector.valid()  # not once the lease may have passed on
        store_reconciler = StoreReconciler(
            kube, self.stores, self.cluster_stores, self.provider_clients, options.refresh
        )

        async def reconcile_sync(key: Key) -> Result:
            if self._owns(key[0]):
                return await self.reconciler(key)
            self.reconciler.disown(key)
            return Result()

        async def reconcile_store(key: StoreKey) -> Result:
            return await store_reconciler(key) if self._owns(key[1]) else Result()

        self.controller: Controller[Key] = Controller(
            "secretsync", reconcile_sync, queue=queue, workers=options.workers
        )
        self.store_controller: Controller[StoreKey] = Controller(
            "secretstore", reconcile_store, workers=min(options.workers, 2)
        )
        self.sealed = (
            Cache(kube, SEALED_SECRETS, options.namespaces) if self.keys is not None else None
        )
        self.sealed_controller: Controller[Key] | None = None
        if self.sealed is not None:
            self.sealed_controller = Controller(
                "sealedsecret",
                self._gated(SealedSecretReconciler(kube, self.sealed, self.syncs)),
                workers=min(options.workers, 2),
            )
            self.sealed.add_handler(self._on_sealed(self.sealed_controller))
        serve_bitnami = self.keys is not None and options.serve_bitnami
        self.bitnami = (
            Cache(kube, BITNAMI_SEALED_SECRETS, options.namespaces) if serve_bitnami else None
        )
        self.bitnami_controller: Controller[Key] | None = None
        if self.bitnami is not None:
            self.bitnami_controller = Controller(
                "bitnami-sealedsecret",
                self._gated(SealedSecretReconciler.bitnami(kube, self.bitnami, self.syncs)),
                workers=min(options.workers, 2),
            )
            self.bitnami.add_handler(self._on_sealed(self.bitnami_controller))
        self.syncs.add_handler(self._on_sync)
        self.secrets.cache.add_handler(self._on_secret)
        self.stores.add_handler(self._on_store(STORE_KIND))
        if self.cluster_stores is not None and self.namespaces is not None:
            self.cluster_stores.add_handler(self._on_store(CLUSTER_STORE_KIND))
            self.namespaces.add_handler(self._on_namespace)

    def _owns(self, namespace: str) -> bool:
        """Whether this replica works on `namespace` (always, unless sharded)."""
        return self.shards is None or self.shards.owns(namespace)

    def _gated(
        self, reconcile: Callable[[Key], Awaitable[Result]]
    ) -> Callable[[Key], Awaitable[Result]]:
        """`reconcile` for the namespaces this replica works on; others are left alone."""

        async def gated(key: Key) -> Result:
            return await reconcile(key) if self._owns(key[0]) else Result()

        return gated

    def _took_shard(self, shard: int) -> None:
        """A shard just became ours: its objects are reconciled from the warm caches."""
        assert self.shards is not None
        count = self.shards.count
        for obj in self.syncs.values():
            if shard_of(obj["metadata"].get("namespace", ""), count) == shard:
                self.controller.queue.add(object_key(obj))
        for cache, kind in ((self.stores, STORE_KIND), (self.cluster_stores, CLUSTER_STORE_KIND)):
            for obj in cache.values() if cache is not None else ():
                namespace = obj["metadata"].get("namespace", "")
                if (shard_of(namespace, count) if namespace else 0) == shard:
                    self.store_controller.queue.add(store_key(kind, obj))
        for cache, controller in (
            (self.sealed, self.sealed_controller),
            (self.bitnami, self.bitnami_controller),
        ):
            if cache is None or controller is None:
                continue
            for obj in cache.values():
                if shard_of(obj["metadata"].get("namespace", ""), count) == shard:
                    controller.queue.add(object_key(obj))

    def _caches(self) -> list[Cache]:
        optional = (self.cluster_stores, self.namespaces, self.sealed, self.bitnami)
        return [self.secrets.cache, self.stores, *(c for c in optional if c is not None)]

    def _sealing_keys(self) -> list[rsa.RSAPrivateKey]:
        return self.keys.ring.private_keys() if self.keys is not None else []

    def _on_sealing_keys(self) -> None:
        self.sources.forget_opened()
        scopes = list(self.options.namespaces or [""])
        for key in {k for ns in scopes for k in self.syncs.by_index(SEALED, SEALED, ns)}:
            self.controller.queue.add(key)

    def _referenced(self, key: Key) -> bool:
        namespace, name = key
        return bool(self.syncs.by_index(SECRET_REFS, f"{namespace}/{name}", namespace))

    def _on_sync(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        assert obj is not None
        for owner, owners in (
            (SECRETLOOM, self.sealed_controller),
            (BITNAMI, self.bitnami_controller),
        ):
            key = owner_key(obj, owner)
            if key is not None and owners is not None:  # its status is the owner's too
                owners.queue.add(key)
        if kind == "MODIFIED" and not _spec_changed(old, new):
            return
        self.controller.queue.add(object_key(obj))

    def _on_sealed(self, controller: Controller[Key]) -> Handler:
        def handle(kind: str, old: Obj | None, new: Obj | None) -> None:
            if kind == "MODIFIED" and not _spec_changed(old, new):
                return
            obj = new or old
            assert obj is not None
            controller.queue.add(object_key(obj))

        return handle

    def _on_secret(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        assert obj is not None
        namespace, name = object_key(obj)
        seen = time.perf_counter()
        changed = _changed_keys(old, new) if kind == "MODIFIED" else None
        version = obj["metadata"].get("resourceVersion", "")
        for key in self.syncs.by_index(SECRET_REFS, f"{namespace}/{name}", namespace):
            sync = self.syncs.get(key)
            if sync is not None and changed is not None and not _concerns(sync, name, changed):
                continue  # a write to its target that leaves everything it owns alone
            own_write = kind == "MODIFIED" and self.reconciler.wrote(key, version)
            if own_write and sync is not None and not _reads(sync, name):
                continue  # its own write coming back
            self.reconciler.saw_source_change(key, seen)
            self.controller.queue.add(key)

    def _syncs_using(self, ref: str, namespace: str | None) -> set[Key]:
        """SecretSyncs whose STORE_REFS index holds `ref`, in `namespace` or (None) anywhere."""
        scopes = [namespace] if namespace is not None else list(self.options.namespaces or [""])
        return {k for ns in scopes for k in self.syncs.by_index(STORE_REFS, ref, ns)}

    def _refresh(self, keys: set[Key]) -> None:
        for key in keys:
            self.reconciler.invalidate(key)
            self.controller.queue.add(key)

    def _on_store(self, kind: str) -> Handler:
        def handle(event: str, old: Obj | None, new: Obj | None) -> None:
            if event == "MODIFIED" and not _spec_changed(old, new):
                return  # our own status write
            obj = new or old
            assert obj is not None
            key = store_key(kind, obj)
            self.store_controller.queue.add(key)
            self._refresh(self._syncs_using(store_ref(key), key[1] or None))

        return handle

    def _on_namespace(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        before = ((old or {}).get("metadata") or {}).get("labels")
        after = ((new or {}).get("metadata") or {}).get("labels")
        if kind == "MODIFIED" and before == after:
            return
        obj = new or old
        assert obj is not None
        namespace = obj["metadata"]["name"]
        if self.syncs.watches(namespace):
            self._refresh(self._syncs_using(ANY_CLUSTER_STORE, namespace))

    def ready(self) -> bool:
        caches = (self.syncs, *self._caches())
        return all(e.is_set() for c in caches for e in c.synced)

    def healthy(self) -> bool:
        """False once a reconcile has run longer than `stuck_after` (a liveness signal)."""
        stuck = [
            c
            for c in (self.controller, self.store_controller)
            if c.busy_for() > self.options.stuck_after
        ]
        for controller in stuck:
            log.warning(
                "a reconcile is stuck",
                extra={"controller": controller.name, "for": controller.busy_for()},
            )
        return not stuck

    async def run(self) -> None:
        """Run until cancelled or leadership is lost (then raise SystemExit(1))."""
        conditions = metrics.ConditionCollector(self.syncs.values)
        metrics.REGISTRY.register(conditions)
        server = None
        if self.options.metrics_port is not None:
            server = await metrics.serve(
                self.options.metrics_host, self.options.metrics_port, self.ready, self.healthy
            )
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.syncs.run())
                for event in self.syncs.synced:
                    await event.wait()
                for cache in self._caches():
                    group.create_task(cache.run())
                for cache in self._caches():
                    for event in cache.synced:
                        await event.wait()
                log.info(
                    "caches synced",
                    extra={
                        "secretsyncs": len(self.syncs),
                        "secrets": len(self.secrets.cache),
                        "secretstores": len(self.stores),
                        "clustersecretstores": len(self.cluster_stores or ()),
                    },
                )
                if self.options.freeze_heap:
                    heap.freeze()
                if self.elector is not None:
                    await self.elector.acquire()
                    group.create_task(self._hold_lease())
                if self.shards is not None:
                    group.create_task(self._keep_shards())
                if self.keys is not None:
                    group.create_task(self.keys.run())
                group.create_task(self.controller.run())
                group.create_task(self.store_controller.run())
                for sealed in (self.sealed_controller, self.bitnami_controller):
                    if sealed is not None:
                        group.create_task(sealed.run())
        finally:
            metrics.REGISTRY.unregister(conditions)
            await self.reconciler.close()
            await self.events.close()
            await self.provider_clients.close()
            if self.elector is not None:
                await self.elector.release()
            if self.shards is not None:
                await self.shards.release()
            if server is not None:
                server.close()

    async def _hold_lease(self) -> None:
        assert self.elector is not None
        await self.elector.hold()
        raise SystemExit(1)  # lost the lease: stop writing at once, let the platform restart us

    async def _keep_shards(self) -> None:
        assert self.shards is not None
        try:
            await self.shards.run()
        except ShardLost as err:
            log.error("stopping", extra={"reason": str(err)})
            raise SystemExit(1) from None
