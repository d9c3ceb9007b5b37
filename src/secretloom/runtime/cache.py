"""A read cache for one resource across a set of namespaces.

Cluster-wide mode runs one informer; namespaced mode (`--namespaces a,b`)
runs one informer per namespace, so the controller needs only Roles in those
namespaces and never lists anything cluster-wide (ESO GHSA-fcxq). Callers see
one cache either way: reads route by the key's namespace.
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
    strip_managed_fields,
)
from secretloom.runtime.kube import KubeClient, Obj, Resource


class Cache:
    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        namespaces: Sequence[str] | None,
        *,
        transform: Transform = strip_managed_fields,
        indexers: dict[str, IndexFunc] | None = None,
    ) -> None:
        scopes: Sequence[str | None] = list(namespaces) if namespaces else [None]
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

    def put(self, obj: Obj) -> None:
        informer = self._for(obj["metadata"].get("namespace", ""))
        if informer is not None:
            informer.store.put(obj)

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
