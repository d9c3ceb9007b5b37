"""A Secret cache that keeps values only for Secrets something references.

Every Secret in the watched namespaces is cached as a skeleton (name,
namespace, resourceVersion), so "does it exist" is a cache lookup and a
newly created target is seen at once. A skeleton is what 100,000 unrelated
Secrets cost (issue 17), so it holds only what is read from it: the key, and
the resourceVersion that keeps a fetched copy from stepping back (`Cache.put`);
its namespace string is interned, one copy per namespace instead of one per
Secret. Nothing reads the uid of a skeleton: `get_with_data` fetches the
whole Secret (bench/notes.md: 717 -> 573 bytes per skeleton, tracemalloc).

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
from collections.abc import Callable, Sequence

from secretloom.runtime.cache import Cache
from secretloom.runtime.informer import Key
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.meta import meta_of, strip_managed_fields
from secretloom.runtime.resources import SECRETS

STRIPPED = "__secretloomDataStripped"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


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
            skeleton = {k: meta[k] for k in ("name", "resourceVersion") if k in meta}
            if "namespace" in meta:
                skeleton["namespace"] = sys.intern(meta["namespace"])
            return {"metadata": skeleton, STRIPPED: True}
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
    return obj
