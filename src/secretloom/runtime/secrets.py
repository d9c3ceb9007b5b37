"""A Secret cache that keeps values only for Secrets something references.

Every Secret in the watched namespaces is cached as a skeleton (metadata
without managedFields), so "does it exist" is a cache lookup and a newly
created target is seen at once. `data` is kept only when `is_referenced` says
a controller reads or writes that Secret; otherwise it is dropped on ingest,
so memory grows with referenced Secrets, not with the cluster.

A Secret that became referenced after it was cached has no data yet:
`get_with_data` fetches it once and caches the result; from then on watch
events keep its data current.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from secretloom.runtime.cache import Cache
from secretloom.runtime.informer import Key
from secretloom.runtime.kube import SECRETS, ApiError, KubeClient, Obj

STRIPPED = "__secretloomDataStripped"


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
        self.fetches = 0

    def _transform(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        meta.pop("managedFields", None)
        if not self._is_referenced((meta.get("namespace", ""), meta["name"])):
            obj.pop("data", None)
            obj.pop("stringData", None)
            obj[STRIPPED] = True
        return obj

    def exists(self, namespace: str, name: str) -> bool:
        return self.cache.get((namespace, name)) is not None

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
        fresh["metadata"].pop("managedFields", None)
        current = self.cache.get((namespace, name))
        if current is None or STRIPPED in current:
            self.cache.put(fresh)
        return fresh
