"""The `kubernetes` provider: one key of a Secret in the namespace it is pinned to.

A SecretSync's `from: {secret, key}` entries are read through this provider,
behind the same protocol as a store's, so every entry of a SecretSync goes
through one path (resolve a provider, read a `ValueRef`, map its errors).
`ValueRef.path` is the Secret's name and `ValueRef.property` the key.

The provider reads only through `ProviderContext.read_secret_key`, which the
caller pins to one namespace: there is no field to name another one, so a
cross-namespace read cannot be expressed. What a read costs is the caller's
choice; the controller serves it from its informer cache.

`key_bytes` is the one place that turns a Secret or ConfigMap object into the
bytes of one key. Readers call it with the error their caller means by
"absent": for a value, `NotFound` (the SecretSync reports SourceMissing and
keeps its last known good value); for a store's credential, `InvalidConfig`
(the store cannot work), never a `NotFound` that could be mistaken for a
missing value in the provider. Messages name objects and keys only.

`get_all` is refused: a Secret is copied whole by listing its keys in `data`,
so the set of keys a SecretSync owns stays visible in its spec.
"""

from __future__ import annotations

import base64
import binascii

from secretloom.api.base import Model
from secretloom.providers.protocol import (
    InvalidConfig,
    NotFound,
    Provider,
    ProviderContext,
    ProviderError,
    ValueRef,
)
from secretloom.providers.registry import ProviderFactory
from secretloom.runtime.kube import Obj


class KubernetesProviderSpec(Model):
    """No settings: the namespace is the caller's, never the spec's."""


def key_bytes(
    obj: Obj | None,
    kind: str,
    name: str,
    key: str,
    *,
    missing: type[ProviderError] = NotFound,
    namespace: str = "",
) -> bytes:
    """The bytes of `key` in a Secret or ConfigMap (`data`, then `binaryData`)."""
    if obj is None:
        where = f" in namespace {namespace!r}" if namespace else ""
        raise missing(f"{kind} {name!r} not found{where}")
    if kind == "Secret":
        encoded = (obj.get("data") or {}).get(key)
    else:
        text = (obj.get("data") or {}).get(key)
        if text is not None:
            return str(text).encode()
        encoded = (obj.get("binaryData") or {}).get(key)
    if encoded is None:
        raise missing(f"key {key!r} not found in {kind} {name!r}")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidConfig(f"key {key!r} of {kind} {name!r} is not valid base64") from None


class KubernetesProvider:
    def __init__(self, ctx: ProviderContext) -> None:
        self._ctx = ctx

    async def get(self, ref: ValueRef) -> bytes:
        if ref.property is None:
            raise InvalidConfig(f"Secret {ref.path!r}: a key is required")
        return await self._ctx.read_secret_key(ref.path, ref.property)

    async def get_all(self, ref: ValueRef) -> dict[str, bytes]:
        raise InvalidConfig(
            f"Secret {ref.path!r}: the kubernetes provider reads one key at a time; "
            "list each key in spec.data"
        )

    async def validate(self) -> None:
        """Nothing to authenticate: reads use the controller's own identity."""

    async def close(self) -> None:
        """Nothing to release."""


class KubernetesFactory:
    """Registered under the `secretloom.providers` entry point as "kubernetes"."""

    name = "kubernetes"
    spec_model: type[Model] = KubernetesProviderSpec

    def create(self, spec: Model, ctx: ProviderContext) -> Provider:
        del spec  # no settings
        return KubernetesProvider(ctx)


factory: ProviderFactory = KubernetesFactory()
