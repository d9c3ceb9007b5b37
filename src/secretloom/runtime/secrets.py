"""A Secret cache that keeps values only for Secrets something references.

Every Secret in the watched namespaces is cached, so "does it exist" is a
cache lookup and a newly created target is seen at once. A Secret nothing
references is kept as a `Skeleton`: a slots record of its name, namespace and
resourceVersion that reads as `{"metadata": {...}, STRIPPED: True}`, its
metadata built on each read. Skeletons are what 100,000 unrelated Secrets
cost (issue 17), so they hold only what is read from them: the key (for the
store and the event handlers) and the resourceVersion that keeps a fetched
copy from stepping back (`Cache.put`); the namespace string is interned, one
copy per namespace. Nothing reads a skeleton's uid or labels: `get_with_data`
fetches the whole Secret. Measured with tracemalloc on Secrets as the API
server sends them (bench/notes.md): 717 bytes per unrelated Secret as nested
dicts with the uid, 573 without it, 261 as this record. Reads of a skeleton are
rare (its own events, a relist), so building its metadata there costs nothing
that matters; it is a read-only Mapping, never written to the API server.

`data`, labels and annotations are kept only when `is_referenced` says a
controller reads or writes that Secret; otherwise they are dropped on ingest,
so memory grows with referenced Secrets, not with the cluster. `managedFields`
and kubectl's last-applied annotation (which repeats the whole Secret, values
included) are always dropped.

A Secret that became referenced after it was cached has no data yet:
`get_with_data` fetches it once and caches the result; from then on watch
events keep its data current.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, cast

from secretloom.runtime.cache import Cache
from secretloom.runtime.informer import Key
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.meta import compact, meta_of, strip_managed_fields
from secretloom.runtime.resources import SECRETS

STRIPPED = "__secretloomDataStripped"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


class Skeleton(Mapping[str, Any]):
    """An unreferenced Secret in the cache: `{"metadata": {name, namespace, resourceVersion},
    STRIPPED: True}` as a read-only mapping over three slots."""

    __slots__ = ("_name", "_namespace", "_version")

    def __init__(self, meta: Mapping[str, Any]) -> None:
        self._name: str = meta["name"]
        namespace = meta.get("namespace")
        self._namespace: str | None = None if namespace is None else sys.intern(namespace)
        self._version: str | None = meta.get("resourceVersion")

    def __getitem__(self, key: str) -> Any:
        if key == STRIPPED:
            return True
        if key != "metadata":
            raise KeyError(key)
        meta = {"name": self._name}
        if self._namespace is not None:
            meta["namespace"] = self._namespace
        if self._version is not None:
            meta["resourceVersion"] = self._version
        return meta

    def __iter__(self) -> Iterator[str]:
        return iter(("metadata", STRIPPED))

    def __len__(self) -> int:
        return 2


class SecretCache:
    def __init__(
        self,
        client: KubeClient,
        namespaces: Sequence[str] | None,
        is_referenced: Callable[[Key], bool],
    ) -> None:
        self._client = client
        self._is_referenced = is_referenced
        self.cache = Cache(client, SECRETS, namespaces, transform=self._transform)
        self.fetches = 0  # Secrets fetched because their data was not cached (for tests)

    def _transform(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        if not self._is_referenced((meta.get("namespace", ""), meta["name"])):
            return cast(Obj, Skeleton(meta))  # read as an Obj everywhere (see above)
        return _trim(obj)

    async def get_with_data(self, namespace: str, name: str) -> Obj | None:
        cached = self.cache.get((namespace, name))
        if cached is None or STRIPPED not in cached:
            return cached
        try:
            fresh = await self._client.get(SECRETS.path(namespace, name))
        except ApiError as err:
            if err.status == 404:
                return None
            raise
        self.fetches += 1
        fresh = _trim(fresh)
        current = self.cache.get((namespace, name))
        if current is not None and STRIPPED in current:
            self.cache.put(fresh)  # an update only: a Secret deleted meanwhile stays deleted
        return fresh


def _trim(obj: Obj) -> Obj:
    (meta_of(strip_managed_fields(obj)).get("annotations") or {}).pop(LAST_APPLIED, None)
    return compact(obj)
