"""The `ProviderContext` of a store: readers pinned to its credential namespace.

A provider may read a store's credentials (a token, an AppRole secret ID), its
CA bundle, and request a ServiceAccount token for Kubernetes auth, all in one
namespace: the SecretStore's own, or the ClusterSecretStore's
`credentialsNamespace`. The readers take a name and a key only, so a
provider cannot name another namespace.

Credentials are read straight from the API server, not from the informer
cache: a pooled client reads them once, when it is created (and again after
an `Unauthorized` evicts it), and a ClusterSecretStore's credential
namespace need not be one the controller watches.

Every failure is a provider error whose message names the object and the
namespace, never a value: a missing Secret or key is `InvalidConfig` (the
store cannot work until someone fixes it; never `NotFound`, which would read
as a missing value in the provider), RBAC refusals are `InvalidConfig` too,
and anything else from the API server is `Unavailable` (retried with backoff).
"""

from __future__ import annotations

from collections.abc import Sequence

from secretloom.providers.kubernetes import key_of
from secretloom.providers.protocol import (
    InvalidConfig,
    ProviderContext,
    ProviderError,
    Unavailable,
)
from secretloom.runtime.kube import SECRETS as _SECRETS
from secretloom.runtime.kube import ApiError, KubeClient, Obj, Resource
from secretloom.runtime.tokens import request_token

CONFIGMAPS = Resource("", "v1", "configmaps")


def kube_error(err: ApiError, what: str, namespace: str) -> ProviderError:
    """An API server failure about `what` (e.g. "Secret 'x'") as a provider error."""
    if err.status in (401, 403):
        return InvalidConfig(
            f"the controller may not access {what} in namespace {namespace!r} "
            f"(HTTP {err.status}); see deploy/rbac"
        )
    if err.status == 404:
        return InvalidConfig(f"{what} not found in namespace {namespace!r}")
    status = f"HTTP {err.status}" if err.status else "unreachable"
    return Unavailable(f"reading {what} in namespace {namespace!r} failed ({status})")


def store_context(client: KubeClient, namespace: str) -> ProviderContext:
    """Readers and a token requester for credentials in `namespace` only."""

    async def fetch(resource: Resource, kind: str, name: str) -> Obj | None:
        try:
            return await client.get(resource.path(namespace, name))
        except ApiError as err:
            if err.status == 404:
                return None
            raise kube_error(err, f"{kind} {name!r}", namespace) from None

    async def read_secret_key(name: str, key: str) -> bytes:
        obj = await fetch(_SECRETS, "Secret", name)
        return key_of(obj, "Secret", name, key, missing=InvalidConfig, namespace=namespace)

    async def read_configmap_key(name: str, key: str) -> bytes:
        obj = await fetch(CONFIGMAPS, "ConfigMap", name)
        return key_of(obj, "ConfigMap", name, key, missing=InvalidConfig, namespace=namespace)

    async def token(name: str, audiences: Sequence[str]) -> str:
        try:
            return await request_token(client, namespace, name, audiences)
        except ApiError as err:
            error = kube_error(err, f"ServiceAccount {name!r} (token request)", namespace)
        raise error from None

    return ProviderContext(
        namespace=namespace,
        read_secret_key=read_secret_key,
        read_configmap_key=read_configmap_key,
        request_token=token,
    )
