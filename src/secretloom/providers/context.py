"""The `ProviderContext` of a store: readers pinned to its credential namespace.

A provider may read a store's credentials (a token, an AppRole secret ID), its
CA bundle, and request a ServiceAccount token for Kubernetes auth, all in one
namespace: the SecretStore's own, or the ClusterSecretStore's
`credentialsNamespace`. The readers take a name and a key only, so a
provider cannot name another namespace.

It lives here, below both of its users, so the controller and `secretloom
render` read store credentials through one implementation over one
Kubernetes client (`runtime.kube`): the same pinning, the same refusals, the
same messages (issue 11; render used to carry its own copy over a second
client library, and copies drift).

Credentials are read straight from the API server, not from an informer
cache: a pooled client reads them once, when it is created (and again after
an `Unauthorized` evicts it), and a ClusterSecretStore's credential
namespace need not be one the controller watches.

What the operator decided travels with the readers: the token policy
(`runtime/tokens.py`: allowed audiences, an optional ServiceAccount label,
and the check that a minted token is useless against the API server), or
`tokens=None` for a caller that mints no tokens at all (`render`), and the
egress policy every provider must honour (`providers/egress.py`).

A Secret of type `kubernetes.io/service-account-token` is never read: its
token is an API server credential of that ServiceAccount, so naming it in
`tokenSecretRef` would have the controller send it to the store's server,
which the store's author chooses, and naming it in a `ref+k8s://` reference
would print it into rendered manifests (the "never treat ServiceAccount-token
Secrets as data" rule of External Secrets' CVE-2026-42876 class).

Every failure is a provider error whose message names the object and the
namespace, never a value: a missing Secret or key is `InvalidConfig` (the
store cannot work until someone fixes it; never `NotFound`, which would read
as a missing value in the provider), RBAC refusals are `InvalidConfig` too,
and anything else from the API server is `Unavailable` (retried with backoff).
"""

from __future__ import annotations

from collections.abc import Sequence

from secretloom.providers.egress import EgressPolicy
from secretloom.providers.kubernetes import key_bytes
from secretloom.providers.protocol import (
    InvalidConfig,
    ProviderContext,
    ProviderError,
    RequestToken,
    Unavailable,
)
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.resources import CONFIGMAPS, SECRETS, Resource
from secretloom.runtime.tokens import SERVICE_ACCOUNT_TOKEN_TYPE as SERVICE_ACCOUNT_TOKEN
from secretloom.runtime.tokens import TokenPolicy, TokenRefused, request_token

DEFAULT_TOKENS = TokenPolicy()
UNRESTRICTED = EgressPolicy()


def kube_error(err: ApiError, what: str, namespace: str) -> ProviderError:
    """An API server failure about `what` (e.g. "Secret 'x'") as a provider error."""
    if err.status in (401, 403):
        return InvalidConfig(
            f"secretloom may not access {what} in namespace {namespace!r} "
            f"(HTTP {err.status}); see deploy/rbac"
        )
    if err.status == 404:
        return InvalidConfig(f"{what} not found in namespace {namespace!r}")
    # No answer at all: the cause (a refused connection, a failing exec plugin)
    # is what a user can act on, and names no value.
    status = f"HTTP {err.status}" if err.status else err.message
    return Unavailable(f"reading {what} in namespace {namespace!r} failed ({status})")


def store_context(
    client: KubeClient,
    namespace: str,
    *,
    tokens: TokenPolicy | None = DEFAULT_TOKENS,
    egress: EgressPolicy = UNRESTRICTED,
) -> ProviderContext:
    """Readers, and a token requester unless `tokens` is None, for `namespace` only."""

    async def fetch(resource: Resource, kind: str, name: str) -> Obj | None:
        try:
            return await client.get(resource.path(namespace, name))
        except ApiError as err:
            if err.status == 404:
                return None
            raise kube_error(err, f"{kind} {name!r}", namespace) from None

    async def read_secret_key(name: str, key: str) -> bytes:
        obj = await fetch(SECRETS, "Secret", name)
        if obj is not None and obj.get("type") == SERVICE_ACCOUNT_TOKEN:
            raise InvalidConfig(
                f"Secret {name!r} in namespace {namespace!r} is a {SERVICE_ACCOUNT_TOKEN} "
                "Secret; ServiceAccount tokens are never sent to a store"
            )
        return key_bytes(obj, "Secret", name, key, missing=InvalidConfig, namespace=namespace)

    async def read_configmap_key(name: str, key: str) -> bytes:
        obj = await fetch(CONFIGMAPS, "ConfigMap", name)
        return key_bytes(obj, "ConfigMap", name, key, missing=InvalidConfig, namespace=namespace)

    def requester(policy: TokenPolicy) -> RequestToken:
        async def token(name: str, audiences: Sequence[str]) -> str:
            try:
                return await request_token(client, namespace, name, audiences, policy=policy)
            except TokenRefused as refused:
                error: ProviderError = InvalidConfig(str(refused))
            except ApiError as err:
                error = kube_error(err, f"ServiceAccount {name!r} (token request)", namespace)
            raise error from None

        return token

    return ProviderContext(
        namespace=namespace,
        read_secret_key=read_secret_key,
        read_configmap_key=read_configmap_key,
        request_token=None if tokens is None else requester(tokens),
        egress=egress,
    )
