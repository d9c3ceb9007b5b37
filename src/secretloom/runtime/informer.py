"""Informers: a list + watch loop feeding an indexed in-memory store.

The classic client-go shape:
- paginated list, then watch from the list's resourceVersion with bookmarks
  (so a quiet stream still advances and a restart does not relist);
- 410 Gone -> relist, diffing the new list against the store so handlers see
  the deletions and changes they missed;
- a transform runs on ingest (by default stripping `managedFields`, which is
  often larger than the object); the Secret informer's transform also drops
  `data` of Secrets nobody references, so memory does not grow with unrelated
  Secrets (cert-manager and prometheus-operator both paid for caching them);
- named indexes map an index value to object keys, so event -> reconcile-key
  mapping is a lookup, never a scan;
- `synced` is set after the first list is in the store: workers start only
  then.
Handlers run synchronously on the informer task and must only enqueue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from secretloom.runtime.kube import ApiError, Gone, KubeClient, Obj
from secretloom.runtime.meta import for_cache, meta_of
from secretloom.runtime.resources import Resource

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects
Transform = Callable[[Obj], Obj]
IndexFunc = Callable[[Obj], list[str]]
Handler = Callable[[str, Obj | None, Obj | None], None]  # (type, old, new)


def object_key(obj: Obj) -> Key:
    """The store key of an object: (namespace, name)."""
    meta = meta_of(obj)
    return meta.get("namespace", ""), meta["name"]


@dataclass
class Store:
    """Objects by key, plus named indexes (value -> keys)."""

    indexers: dict[str, IndexFunc] = field(default_factory=dict)
    _items: dict[Key, Obj] = field(default_factory=dict)
    _indexes: dict[str, dict[str, set[Key]]] = field(default_factory=dict)

    def get(self, key: Key) -> Obj | None:
        return self._items.get(key)

    def list_keys(self) -> list[Key]:
        return list(self._items)

    def values(self) -> Iterator[Obj]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def by_index(self, name: str, value: str) -> set[Key]:
        return set(self._indexes.get(name, {}).get(value, ()))

    def put(self, obj: Obj) -> Obj | None:
        key = object_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        for name, func in self.indexers.items():
            for value in func(obj):
                self._indexes.setdefault(name, {}).setdefault(value, set()).add(key)
        return old

    def delete(self, key: Key) -> Obj | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _unindex(self, key: Key, obj: Obj) -> None:
        for name, func in self.indexers.items():
            index = self._indexes.get(name, {})
            for value in func(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]


class Informer:
    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        *,
        namespace: str | None = None,
        transform: Transform = for_cache,
        indexers: dict[str, IndexFunc] | None = None,
        watch_timeout: int = 300,
    ) -> None:
        self._client = client
        self._resource = resource
        self._namespace = namespace
        self._transform = transform
        self._watch_timeout = watch_timeout
        self.store = Store(indexers=dict(indexers or {}))
        self.synced = asyncio.Event()
        self._handlers: list[Handler] = []
        self.relists = 0

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    @property
    def path(self) -> str:
        return self._resource.path(self._namespace)

    async def run(self) -> None:
        """List, then watch forever; relist on 410; back off on errors."""
        backoff = 0.1
        while True:
            try:
                resource_version = await self._relist()
                backoff = 0.1
                while True:
                    resource_version = await self._watch(resource_version)
            except Gone:
                self.relists += 1
                log.info("watch expired, relisting", extra={"resource": self.path})
            except ApiError as err:
                log.warning(
                    "list/watch failed, retrying",
                    extra={"resource": self.path, "error": str(err), "backoff": backoff},
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def _relist(self) -> str:
        # Transformed page by page: a list of 10,000 Secrets never holds all their data.
        items, resource_version = await self._client.list(self.path, transform=self._transform)
        fresh = {object_key(obj): obj for obj in items}
        for key in self.store.list_keys():
            if key not in fresh:
                old = self.store.delete(key)
                self._emit("DELETED", old, None)
        for new in fresh.values():
            old = self.store.put(new)
            self._emit("ADDED" if old is None else "MODIFIED", old, new)
        self.synced.set()
        return resource_version

    async def _watch(self, resource_version: str) -> str:
        async for event in self._client.watch(
            self.path, resource_version=resource_version, timeout_seconds=self._watch_timeout
        ):
            kind, obj = event["type"], event["object"]
            resource_version = obj["metadata"]["resourceVersion"]
            if kind == "BOOKMARK":
                continue
            if kind == "DELETED":
                old = self.store.delete(object_key(obj))
                self._emit("DELETED", old, None)
            else:
                new = self._transform(obj)
                old = self.store.put(new)
                self._emit(kind, old, new)
        return resource_version

    def _emit(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        for handler in self._handlers:
            handler(kind, old, new)
