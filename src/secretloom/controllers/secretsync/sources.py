"""Reading the values a SecretSync's entries point at, every one through a provider.

`from.secret` entries go through the `kubernetes` provider with a reader over
the informer cache, pinned to the SecretSync's namespace (a Secret whose data
was not cached, because it was unreferenced when it arrived, is fetched once
and cached from then on). `from.store` and `dataFrom` entries go through the
store's pooled client (`secretstore.clients`), found by `StoreLookup`, which
applies the scoping rule. An entry naming another namespace is refused before
any read (ESO CVE-2026-42875 class).

Provider errors become per-entry results, never exceptions: `NotFound` is a
missing source (SourceMissing, last known good kept), every other provider
error is a ProviderError carrying its kind (Unavailable, Unauthorized,
InvalidConfig); an `Unauthorized` also retires the store's pooled client so
the next poll reads the credentials again. Messages are the providers'
(request coordinates, never values) prefixed with the entry and the store.

`from.sealed` entries are opened with the controller's sealing keys
(controllers.sealing) under the label of their declared scope, bound to this
namespace and the *target's* name, which is what a strict ciphertext was
sealed for; off the event loop (RSA-4096 costs milliseconds per key tried).
What opened is remembered in memory (bounded, keyed by a hash of label and
ciphertext, like the Secret cache holds values) so a reconcile does not pay
the RSA again; `forget_opened` clears it when the keys change. Every failure
is the same "did not open" message (no oracle), and with sealing disabled the
entry says so. A sealed value's version is a hash of its ciphertext, which is
public.

Reads are shared: SecretSyncs naming the same value of the same store take
one read (`shared.py`, issue 16), and the caller says how old it may be.

Versions, the `sourceVersion` of each key's status: a Kubernetes source's is a
hash of the Secret's uid and resourceVersion. A store value has no version the
protocol exposes, so it is an HMAC of the value under a key drawn at random
when the controller starts and never stored or logged: equal values compare
equal within a process, and the status reveals nothing about the value (an
unkeyed hash would let anyone who can read the status test guesses).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from secrets import token_bytes
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric import rsa

from secretloom import seal
from secretloom.api import secretsync as api
from secretloom.controllers.secretstore.clients import ProviderClients
from secretloom.controllers.secretstore.lookup import StoreHandle, StoreLookup, StoreProblem
from secretloom.controllers.secretsync.naming import version_hash
from secretloom.controllers.secretsync.plan import SERVICE_ACCOUNT_TOKEN, Resolved
from secretloom.controllers.secretsync.reads import (
    DataFromRead,
    StoreReads,
    describe,
    foreign,
    store_indexes,
)
from secretloom.controllers.secretsync.shared import SharedReads
from secretloom.providers.context import store_context
from secretloom.providers.kubernetes import key_bytes
from secretloom.providers.protocol import (
    InvalidConfig,
    LeaseProvider,
    NotFound,
    Provider,
    ProviderError,
    ValueRef,
)
from secretloom.providers.registry import Registry
from secretloom.runtime import metrics
from secretloom.runtime.kube import KubeClient
from secretloom.runtime.secrets import SecretCache

T = TypeVar("T")
MAX_OPENED = 4096  # sealed values remembered once opened
_SECRET_KEY = re.compile(api.SECRET_KEY_PATTERN)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _failure(key: str, label: str, err: ProviderError, prefix: str) -> Resolved:
    missing = isinstance(err, NotFound)
    return Resolved(
        key,
        label,
        reason="SourceMissing" if missing else "ProviderError",
        kind="" if missing else err.reason,
        message=f"{prefix}{err}",
    )


class _CachedSecrets:
    """The kubernetes provider's Secret reader: the informer cache of one namespace."""

    def __init__(self, secrets: SecretCache, namespace: str) -> None:
        self._secrets = secrets
        self._namespace = namespace
        self.versions: dict[str, str] = {}
        self.refused: set[str] = set()  # ServiceAccount token Secrets: never data

    async def read_secret_key(self, name: str, key: str) -> bytes:
        obj = await self._secrets.get_with_data(self._namespace, name)
        if obj is not None:
            if obj.get("type") == SERVICE_ACCOUNT_TOKEN:
                self.refused.add(name)
                raise InvalidConfig(
                    f"Secret {name!r} is of type {SERVICE_ACCOUNT_TOKEN}; "
                    "secretloom never copies ServiceAccount tokens"
                )
            meta = obj["metadata"]
            self.versions[name] = version_hash(meta["uid"], meta["resourceVersion"])
        return key_bytes(obj, "Secret", name, key)


class Sources:
    def __init__(
        self,
        client: KubeClient,
        secrets: SecretCache,
        lookup: StoreLookup,
        clients: ProviderClients,
        registry: Registry,
        sealing_keys: Callable[[], Sequence[rsa.RSAPrivateKey]] | None = None,
    ) -> None:
        self._client = client
        self._sealing_keys = sealing_keys
        self._opened: OrderedDict[bytes, bytes] = OrderedDict()
        self._secrets = secrets
        self._lookup = lookup
        self._clients = clients
        self._registry = registry
        self._hmac_key = token_bytes(32)
        self.reads = SharedReads()

    # -- Kubernetes entries: every reconcile, from the cache -------------------

    async def kubernetes_entries(
        self, namespace: str, spec: api.SecretSyncSpec
    ) -> dict[int, Resolved]:
        """Results of the entries that are not store entries, by index in spec.data."""
        reader = _CachedSecrets(self._secrets, namespace)
        # The pinned readers a SecretStore of this namespace gets, with Secrets
        # from the cache, and no token requests: this provider needs none.
        ctx = dataclasses.replace(
            store_context(self._client, namespace),
            read_secret_key=reader.read_secret_key,
            request_token=None,
        )
        provider = self._registry.create("kubernetes", {}, ctx)
        stores = set(store_indexes(spec, namespace))
        return {
            index: (
                await self._open_sealed(entry, namespace, spec.target.name)
                if entry.from_.sealed is not None
                else await self._read_secret(entry, namespace, provider, reader)
            )
            for index, entry in enumerate(spec.data)
            if index not in stores
        }

    async def _open_sealed(self, entry: api.DataEntry, namespace: str, target: str) -> Resolved:
        sealed, label = entry.from_.sealed, describe(entry.from_)
        assert sealed is not None
        if self._sealing_keys is None:
            return Resolved(
                entry.key,
                label,
                reason="SealingDisabled",
                message=f"entry {entry.key!r}: this controller runs without sealing keys "
                "(--sealing-namespace)",
            )
        bound = seal.label(sealed.scope, namespace, target)
        try:
            plaintext = await self._unseal(bound, sealed.value)
        except (ValueError, seal.UnsealError):
            return Resolved(
                entry.key,
                label,
                reason="UnsealFailed",
                message=f"entry {entry.key!r}: the sealed value did not open for "
                f"{sealed.scope} scope at {namespace}/{target} with any sealing key",
            )
        version = hashlib.sha256(sealed.value.encode()).hexdigest()[:16]
        return Resolved(entry.key, label, value=_b64(plaintext), version=version)

    async def _read_secret(
        self, entry: api.DataEntry, namespace: str, provider: Provider, reader: _CachedSecrets
    ) -> Resolved:
        source, label = entry.from_, describe(entry.from_)
        if foreign(source, namespace):
            return Resolved(
                entry.key,
                label,
                reason="InvalidReference",
                message=(
                    f"entry {entry.key!r}: from.namespace {source.namespace!r} is not allowed; "
                    f"a SecretSync reads only from its own namespace {namespace!r}"
                ),
            )
        name = source.secret or ""
        try:
            raw = await provider.get(ValueRef(name, source.key))
        except ProviderError as err:
            if name in reader.refused:
                return Resolved(
                    entry.key,
                    label,
                    reason="InvalidReference",
                    message=f"entry {entry.key!r}: {err}",
                )
            return _failure(entry.key, label, err, "")
        return Resolved(entry.key, label, value=_b64(raw), version=reader.versions[name])

    async def _unseal(self, bound: bytes, value: str) -> bytes:
        assert self._sealing_keys is not None
        memo = hashlib.sha256(bound + b"\0" + value.encode()).digest()
        if memo in self._opened:
            self._opened.move_to_end(memo)
            return self._opened[memo]
        ciphertext = base64.b64decode(value, validate=True)
        keys = list(self._sealing_keys())
        plaintext = await asyncio.to_thread(seal.unseal, keys, ciphertext, bound)
        self._opened[memo] = plaintext
        if len(self._opened) > MAX_OPENED:
            self._opened.popitem(last=False)
        return plaintext

    def forget_opened(self) -> None:
        """Drop every remembered opening: the keys changed (one may have been removed)."""
        self._opened.clear()

    # -- store entries: polled, then remembered by the caller ------------------

    async def poll(
        self, namespace: str, spec: api.SecretSyncSpec, *, max_age: float = 0.0
    ) -> StoreReads:
        """Read every store entry and dataFrom path of `spec`, concurrently.

        A read of the same value by another SecretSync, in flight or at most
        `max_age` seconds old, is taken instead of a new one (`shared.py`).
        """
        indexes = store_indexes(spec, namespace)
        values = await asyncio.gather(
            *(self._read_value(spec.data[i], namespace, max_age) for i in indexes)
        )
        reads = await asyncio.gather(
            *(self._read_all(e, namespace, max_age) for e in spec.data_from)
        )
        return StoreReads(dict(zip(indexes, values, strict=True)), tuple(reads))

    async def _read_value(self, entry: api.DataEntry, namespace: str, max_age: float) -> Resolved:
        source, label = entry.from_, describe(entry.from_)
        assert source.store is not None and source.path is not None
        prefix = f"entry {entry.key!r}: "
        try:
            handle = self._lookup.find(source.store, namespace)
        except StoreProblem as problem:
            return Resolved(
                entry.key, label, reason=problem.reason, message=prefix + problem.message
            )
        ref = ValueRef(
            source.path, source.property, source.version, source.version_stage, source.version_id
        )
        try:
            raw = await self._one(handle, ref, max_age)
        except ProviderError as err:
            return _failure(entry.key, label, err, f"{prefix}{handle.describe()}: ")
        return Resolved(entry.key, label, value=_b64(raw), version=self._version(raw))

    async def _read_all(
        self, entry: api.DataFromEntry, namespace: str, max_age: float
    ) -> DataFromRead:
        label = entry.describe()
        prefix = f"dataFrom {label}: "
        try:
            handle = self._lookup.find(entry.store, namespace)
        except StoreProblem as problem:
            failure = Resolved("", label, reason=problem.reason, message=prefix + problem.message)
            status = api.DataFromStatus(source=label, state="Error", message=failure.message)
            return DataFromRead(status, failure=failure)
        ref = ValueRef(entry.path, None, entry.version, entry.version_stage, entry.version_id)
        try:
            data = await self._shared(handle, "get_all", ref, max_age)
        except ProviderError as err:
            failure = _failure("", label, err, prefix)
            state = "SourceMissing" if failure.reason == "SourceMissing" else "ProviderError"
            status = api.DataFromStatus(source=label, state=state, message=failure.message)
            return DataFromRead(status, failure=failure)
        keys, skipped = [], []
        for name in sorted(data):
            key = entry.prefix + name
            if len(key) > 253 or not _SECRET_KEY.match(key):
                skipped.append(name)
                continue
            keys.append(
                Resolved(key, label, value=_b64(data[name]), version=self._version(data[name]))
            )
        message = f"skipped properties that are not valid Secret keys: {skipped}" if skipped else ""
        status = api.DataFromStatus(
            source=label, state="Error" if skipped else "Synced", message=message
        )
        return DataFromRead(status, keys=tuple(keys))

    async def _one(self, handle: StoreHandle, ref: ValueRef, max_age: float) -> bytes:
        """One value; through a shared read of its whole path where the provider allows.

        A provider whose factory sets `whole_path_reads` answers `get` with a
        property exactly as `get_all(path)[property]` (Vault: one KV read per
        path; Secrets Manager: one GetSecretValue per secret), so SecretSyncs
        naming different properties of one path share one read of it.
        """
        factory = self._registry.get(handle.provider)
        if ref.property is None or not getattr(factory, "whole_path_reads", False):
            raw: bytes = await self._shared(handle, "get", ref, max_age)
            return raw
        whole = dataclasses.replace(ref, property=None)
        data: dict[str, bytes] = await self._shared(handle, "get_all", whole, max_age)
        if ref.property not in data:
            raise NotFound(f"path {ref.path!r} property {ref.property!r}: property not found")
        return data[ref.property]

    async def _shared(
        self, handle: StoreHandle, operation: str, ref: ValueRef, max_age: float
    ) -> Any:
        """`provider.<operation>(ref)`, or the same read another SecretSync made (`shared.py`)."""
        key = (handle.key, handle.uid, handle.generation, operation, ref)

        async def fetch() -> Any:
            return await self._call(handle, lambda provider: getattr(provider, operation)(ref))

        return await self.reads.read(key, fetch, max_age=max_age)

    # -- leases: issued, renewed and revoked on a store's pooled client (issue 14) ---

    async def lease(
        self,
        namespace: str,
        store: api.StoreRef,
        fn: Callable[[LeaseProvider], Awaitable[T]],
    ) -> T:
        """`fn` on the lease-issuing client of `store`, found under the usual scoping rule."""
        try:
            handle = self._lookup.find(store, namespace)
        except StoreProblem as problem:
            raise InvalidConfig(problem.message) from None

        async def call(provider: Provider) -> T:
            if not isinstance(provider, LeaseProvider):
                raise InvalidConfig(f"{handle.describe()}: its provider cannot issue leases")
            return await fn(provider)

        return await self._call(handle, call)

    async def _call(self, handle: StoreHandle, fn: Callable[[Provider], Awaitable[T]]) -> T:
        try:
            result = await self._clients.call(handle, fn)
        except ProviderError as err:
            metrics.PROVIDER_CALLS.labels(handle.provider, err.reason).inc()
            raise
        metrics.PROVIDER_CALLS.labels(handle.provider, "success").inc()
        return result

    def _version(self, raw: bytes) -> str:
        return hmac.new(self._hmac_key, raw, hashlib.sha256).hexdigest()[:16]
