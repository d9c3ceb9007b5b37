"""Provider clients pooled per store, leased per use, always closed.

One client per store serves every SecretSync that uses it and the store's own
validation: an AppRole or Kubernetes login happens once per store (the Vault
provider renews it at two thirds of its TTL), not once per reconcile, so a
thousand SecretSyncs on one store do not mean a thousand logins an hour
(External Secrets' one-client-per-reconcile makes exactly that token churn).

A client is replaced, and the old one closed (its login token revoked), when:
* the store's spec changes (it was recreated, or its generation grew; a
  reconcile holding an older handle keeps using the newer client);
* a read says `Unauthorized`: credentials may have been rotated or revoked,
  so the next use builds a client that reads them again;
* the store is deleted (`drop`), or the controller stops (`close`).
A retired client still leased by a reconcile is closed when the last lease
ends, never under a caller's feet.

Each client gets the operator's `--provider-timeout` in its context: the
total deadline of every call it makes (see `providers/protocol.py`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from secretloom.controllers.secretstore.lookup import StoreHandle, StoreKey
from secretloom.providers.context import store_context
from secretloom.providers.egress import EgressPolicy
from secretloom.providers.protocol import DEFAULT_TIMEOUT, Provider, Unauthorized
from secretloom.providers.registry import Registry
from secretloom.runtime.kube import KubeClient
from secretloom.runtime.tokens import TokenPolicy

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class _Entry:
    fingerprint: tuple[str, int]
    provider: Provider
    users: int = 0
    retired: bool = False


class ProviderClients:
    def __init__(
        self,
        client: KubeClient,
        registry: Registry,
        *,
        tokens: TokenPolicy,
        egress: EgressPolicy,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._client = client
        self._registry = registry
        self._tokens = tokens
        self._egress = egress
        self._timeout = timeout
        self._entries: dict[StoreKey, _Entry] = {}
        self.created = 0  # for tests and debugging: how many clients were built

    @contextlib.asynccontextmanager
    async def lease(self, handle: StoreHandle) -> AsyncIterator[Provider]:
        """The store's client for the duration of a `with` block."""
        entry = self._entries.get(handle.key)
        if entry is None or _supersedes(handle.fingerprint, entry.fingerprint):
            if entry is not None:
                await self._retire(handle.key, entry)
            ctx = replace(
                store_context(
                    self._client,
                    handle.credentials_namespace,
                    tokens=self._tokens,
                    egress=self._egress,
                ),
                timeout=self._timeout,
            )
            entry = _Entry(
                handle.fingerprint, self._registry.create(handle.provider, handle.spec, ctx)
            )
            self._entries[handle.key] = entry
            self.created += 1
        entry.users += 1
        try:
            yield entry.provider
        finally:
            entry.users -= 1
            if entry.retired and entry.users == 0:
                await _close(entry)

    async def call(self, handle: StoreHandle, fn: Callable[[Provider], Awaitable[T]]) -> T:
        """`fn` with the store's client; an `Unauthorized` answer retires that client."""
        try:
            async with self.lease(handle) as provider:
                return await fn(provider)
        except Unauthorized:
            await self.discard(handle)
            raise

    async def discard(self, handle: StoreHandle) -> None:
        """Retire the store's client if it is the one built for `handle` (after Unauthorized)."""
        entry = self._entries.get(handle.key)
        if entry is not None and entry.fingerprint == handle.fingerprint:
            await self._retire(handle.key, entry)

    async def drop(self, key: StoreKey) -> None:
        """Retire the client of a deleted store."""
        entry = self._entries.get(key)
        if entry is not None:
            await self._retire(key, entry)

    async def close(self) -> None:
        for key, entry in list(self._entries.items()):
            await self._retire(key, entry)

    async def _retire(self, key: StoreKey, entry: _Entry) -> None:
        if self._entries.get(key) is entry:
            del self._entries[key]
        if entry.retired:
            return
        entry.retired = True
        if entry.users == 0:
            await _close(entry)

    def __len__(self) -> int:
        return len(self._entries)


def _supersedes(wanted: tuple[str, int], held: tuple[str, int]) -> bool:
    """A recreated store, or a newer generation; a stale handle keeps the newer client."""
    return wanted[0] != held[0] or wanted[1] > held[1]


async def _close(entry: _Entry) -> None:
    try:
        await entry.provider.close()
    except Exception as err:  # closing is best effort; a failure must not fail a reconcile
        log.warning("closing a provider client failed", extra={"error": type(err).__name__})
