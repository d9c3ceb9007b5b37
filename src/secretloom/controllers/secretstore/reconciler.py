"""The store reconciler: a store is Ready when its provider really authenticated.

For each SecretStore and ClusterSecretStore it leases the store's pooled
client and calls `validate()`, which for Vault logs in and reads the KV
mount's type and version, so a wrong server, CA, credential, role or mount
shows on the store itself before any SecretSync trips over it. The Ready
condition's reason is the provider error's kind (InvalidSpec, InvalidConfig,
Unauthorized, Unavailable) and its message the provider's, which never holds
a credential.

A Ready store is validated again every `revalidate` seconds (one cheap call on
the pooled client, no new login); a failing one with the growing, jittered
backoff SecretSyncs use. A deleted store's client is closed.
"""

from __future__ import annotations

import logging

from secretloom.api.conditions import Condition
from secretloom.api.stores import CLUSTER_STORE_KIND, StoreStatus
from secretloom.controllers.refresh import RefreshPolicy, jittered
from secretloom.controllers.secretstore.clients import ProviderClients
from secretloom.controllers.secretstore.lookup import StoreKey, StoreProblem, parse
from secretloom.controllers.status import write_status
from secretloom.providers.protocol import ProviderError
from secretloom.runtime.cache import Cache
from secretloom.runtime.kube import KubeClient, Obj
from secretloom.runtime.queue import RateLimiter
from secretloom.runtime.reconcile import Result
from secretloom.runtime.resources import CLUSTER_SECRET_STORES, SECRET_STORES

log = logging.getLogger(__name__)


class StoreReconciler:
    def __init__(
        self,
        client: KubeClient,
        stores: Cache,
        cluster_stores: Cache | None,
        clients: ProviderClients,
        policy: RefreshPolicy | None = None,
    ) -> None:
        self._client = client
        self._stores = stores
        self._cluster_stores = cluster_stores
        self._clients = clients
        self._policy = policy or RefreshPolicy()
        self._backoff: RateLimiter[StoreKey] = RateLimiter(
            base_delay=self._policy.backoff_base, max_delay=self._policy.backoff_max
        )

    async def __call__(self, key: StoreKey) -> Result:
        kind, namespace, name = key
        cache = self._cluster_stores if kind == CLUSTER_STORE_KIND else self._stores
        obj = cache.get((namespace, name)) if cache is not None else None
        if obj is None:
            await self._clients.drop(key)
            self._backoff.forget(key)
            return Result()
        generation = int(obj["metadata"].get("generation") or 0)
        try:
            handle, _ = parse(kind, obj)
        except StoreProblem as problem:
            await self._write_status(obj, _status(generation, "", problem.reason, problem.message))
            return Result()  # only a spec change can fix it, and that brings the key back
        try:
            await self._clients.call(handle, lambda provider: provider.validate())
        except ProviderError as err:
            await self._write_status(
                obj, _status(generation, handle.provider, err.reason, str(err))
            )
            delay = jittered(self._backoff.when(key), self._policy.jitter)
            log.info(
                "store validation failed",
                extra={"store": handle.describe(), "error": str(err), "retry_in": delay},
            )
            return Result(requeue_after=delay)
        self._backoff.forget(key)
        message = f"{handle.provider}: authenticated and read the store's configuration"
        await self._write_status(obj, _status(generation, handle.provider, "Valid", message))
        return Result(requeue_after=jittered(self._policy.store_revalidate, self._policy.jitter))

    async def _write_status(self, obj: Obj, status: StoreStatus) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace")
        cache = self._stores if namespace else self._cluster_stores
        resource = SECRET_STORES if namespace else CLUSTER_SECRET_STORES
        if cache is not None:
            path = resource.path(namespace, meta["name"], "status")
            await write_status(self._client, cache, path, obj, status)


def _status(generation: int, provider: str, reason: str, message: str) -> StoreStatus:
    return StoreStatus(
        observed_generation=generation,
        provider=provider,
        conditions=[
            Condition(
                type="Ready",
                status="True" if reason == "Valid" else "False",
                reason=reason,
                message=message,
                observed_generation=generation,
            )
        ],
    )
