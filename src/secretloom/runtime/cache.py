"""A read cache for one resource across a set of namespaces.

Cluster-wide mode runs one informer; namespaced mode (`--namespaces a,b`)
runs one informer per namespace, so the controller needs only Roles in those
namespaces and never lists anything cluster-wide (ESO GHSA-fcxq). Callers see
one cache either way: reads route by the key's namespace.

Controllers put the API server's answer to their own writes back into the
cache (`put`), so the next reconcile compares with what was just written
rather than writing it again. That answer races with the watch: the watch may
already have delivered a newer version, or the object's DELETED (the answer
to removing the last finalizer is an object that no longer exists). A put is
therefore an update, never an insert, and never a step back: it is dropped
when the cache no longer holds the object or holds a newer resourceVersion.
Before this rule, a deleted store-backed SecretSync could stay in the cache,
and in the metrics, forever (issue 10).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

from secretloom.runtime.informer import (
    Handler,
    IndexFunc,
    Informer,
    Key,
    Transform,
    object_key,
)
from secretloom.runtime.kube import KubeClient, Obj
from secretloom.runtime.meta import for_cache
from secretloom.runtime.resources import Resource


def _older(meta: Obj, cached: Obj) -> bool:
    """Is `meta` an older version than `cached`? resourceVersions are etcd revisions in
    practice; when either is not a number, the write's answer is taken as newer."""
    try:
        return int(meta.get("resourceVersion", "")) < int(cached.get("resourceVersion", ""))
    except ValueError:
        return False


class Cache:
    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        namespaces: Sequence[str] | None,
        *,
        transform: Transform = for_cache,
        indexers: dict[str, IndexFunc] | None = None,
    ) -> None:
        scopes: Sequence[str | None] = list(namespaces) if namespaces else [None]
        self._transform = transform
        self._informers = {
            scope: Informer(
                client, resource, namespace=scope, transform=transform, indexers=indexers
            )
            for scope in scopes
        }

    def _for(self, namespace: str) -> Informer | None:
        return self._informers.get(namespace) or self._informers.get(None)

    def get(self, key: Key) -> Obj | None:
        informer = self._for(key[0])
        return informer.store.get(key) if informer else None

    def put(self, obj: Obj) -> bool:
        """Replace the cached copy of `obj` with this newer one; False if dropped (see above)."""
        meta = obj["metadata"]
        informer = self._for(meta.get("namespace", ""))
        cached = informer.store.get(object_key(obj)) if informer else None
        if informer is None or cached is None or _older(meta, cached["metadata"]):
            return False
        informer.store.put(self._transform(obj))  # as it would arrive from the watch
        return True

    def by_index(self, name: str, value: str, namespace: str) -> set[Key]:
        informer = self._for(namespace)
        return informer.store.by_index(name, value) if informer else set()

    def values(self) -> Iterator[Obj]:
        for informer in self._informers.values():
            yield from informer.store.values()

    def __len__(self) -> int:
        return sum(len(i.store) for i in self._informers.values())

    def add_handler(self, handler: Handler) -> None:
        for informer in self._informers.values():
            informer.add_handler(handler)

    def watches(self, namespace: str) -> bool:
        return self._for(namespace) is not None

    @property
    def synced(self) -> list[asyncio.Event]:
        return [i.synced for i in self._informers.values()]

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for informer in self._informers.values():
                group.create_task(informer.run())
