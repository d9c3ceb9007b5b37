"""The provider contract, in one file (External Secrets' layout).

A provider reads values from one secret store. A client is created from a store
spec for one reconcile (or pooled per store by the caller) and always closed.

Errors are sentinel classes so callers branch on kind, never on text:
`NotFound` (path or property absent), `Unauthorized` (credentials rejected or
revoked), `Unavailable` (network, sealed, 5xx: retry with backoff, keep last
known good values) and `InvalidConfig` (the store spec cannot work: no retry
until it changes).

Every message must be safe to put in a status condition: it may name a path, a
property, a store or an HTTP status, and must never contain a secret value,
token or credential. Providers guarantee this by building messages from
request coordinates only, never from a response body.

Dynamic secrets (issue 14) are a second, optional protocol, `LeaseProvider`:
a store that *issues* credentials for a limited time (OpenBao/Vault database
`database/creds/<role>`, AWS `aws/creds/<role>`, PKI `pki/issue/<role>` with
parameters) returns a `Lease`: the credentials, their TTL, whether they can
be renewed, and an id to renew or revoke them with. The id is a credential
too (with a token holding the lease capabilities it ends the database login),
so it is never logged or put in a status: `Lease.fingerprint` stands for it.
A renewal returns the TTL the store granted; less than asked means the
lease's max TTL is near, and the caller issues new credentials before it ends.
A lease that is gone (expired, revoked, not renewable) is `NotFound`.

A store's server is chosen by whoever writes the store, so its answers are
bounded like any untrusted input (issue 10: one tarpit store stopped every
SecretSync of a cluster, one 200 MiB answer took the controller to 1.7 GiB).
Every method that talks to a server finishes, or fails with `Unavailable`,
within `ProviderContext.timeout` seconds in total (not per socket read, which
a server answering one byte at a time never trips); it runs blocking work on
threads of its own, never the event loop's shared default pool, so a hung
store exhausts only its own; and it reads an answer no further than it needs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from secretloom.providers.egress import EgressPolicy


class ProviderError(Exception):
    """Base of every provider error; `str(err)` is safe for status and logs."""

    reason: str = "ProviderError"


class NotFound(ProviderError):
    reason = "NotFound"


class Unauthorized(ProviderError):
    reason = "Unauthorized"


class Unavailable(ProviderError):
    reason = "Unavailable"


class InvalidConfig(ProviderError):
    reason = "InvalidConfig"


@dataclass(frozen=True, slots=True)
class ValueRef:
    """Where one value lives in a store.

    `path` is relative to the store's mount (for Vault: the KV path below the
    mount named in the store spec). `property` selects one field of the path's data;
    None means the whole data map (with `get_all`), or the whole value of a
    store that holds one value per path (AWS). `version` pins a KV v2 or
    Parameter Store version, `stage` an AWS version stage or label,
    `version_id` a Secrets Manager version; a provider refuses pins it cannot honour.
    """

    path: str
    property: str | None = None
    version: int | None = None
    stage: str | None = None  # a version stage or label (AWS)
    version_id: str | None = None  # a version ID (AWS Secrets Manager)


# Seconds a provider call (validation, a read, a login, a revocation) may take in all.
DEFAULT_TIMEOUT = 10.0

# Reads one key of a Secret (or ConfigMap) in the namespace the store is used
# from. The caller pins the namespace; providers cannot name another one.
ReadKey = Callable[[str, str], Awaitable[bytes]]
# Requests a service-account token (TokenRequest API) for (name, audiences).
RequestToken = Callable[[str, tuple[str, ...]], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What a provider may use besides its own spec, injected by the caller.

    `egress` is the operator's list of where store servers may be; a provider
    that opens network connections must check it against the address each
    connection really goes to (not only the URL's name), before sending
    anything. The default allows every address: the controller and `render`
    always pass the operator's policy.

    `timeout` is the total deadline of each call to the provider
    (`secretloom controller --provider-timeout`).
    """

    namespace: str
    read_secret_key: ReadKey
    read_configmap_key: ReadKey
    request_token: RequestToken | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    egress: EgressPolicy = field(default_factory=EgressPolicy)
    timeout: float = DEFAULT_TIMEOUT


@runtime_checkable
class Provider(Protocol):
    """A client for one store. Methods are async; blocking libraries run on its own threads.

    Each method returns or raises within the context's `timeout`.
    """

    async def get(self, ref: ValueRef) -> bytes:
        """One value: `ref.property` of `ref.path`. Raises NotFound if absent."""
        ...

    async def get_all(self, ref: ValueRef) -> dict[str, bytes]:
        """Every property of `ref.path` (`ref.property` ignored)."""
        ...

    async def validate(self) -> None:
        """Authenticate and read the store's configuration; raise on failure."""
        ...

    async def close(self) -> None:
        """Release connections and revoke short-lived tokens where possible."""
        ...


@dataclass(frozen=True, slots=True)
class Lease:
    """Credentials a store issued for `ttl` seconds; `lease_id` renews or revokes them.

    `lease_id` is empty for credentials that cannot be renewed or revoked: a
    static role's (a database user the store rotates itself; `ttl` is the time
    to the next rotation) or a certificate issued without a lease. Neither the
    id nor the data appear in `repr`.
    """

    lease_id: str = field(repr=False)
    data: Mapping[str, bytes] = field(repr=False)
    ttl: float
    renewable: bool

    @property
    def fingerprint(self) -> str:
        """A short, non-reversible stand-in for the id, for status and logs."""
        return hashlib.sha256(self.lease_id.encode()).hexdigest()[:16] if self.lease_id else ""


@runtime_checkable
class LeaseProvider(Protocol):
    """A store that issues short-lived credentials. Same deadline and error rules as `Provider`."""

    async def issue(self, ref: ValueRef, parameters: Mapping[str, str] | None = None) -> Lease:
        """New credentials from `ref.path` (read; with `parameters`, written to)."""
        ...

    async def renew(self, lease_id: str, increment: float) -> float:
        """Extend the lease by up to `increment` seconds; the TTL granted. NotFound if gone."""
        ...

    async def revoke(self, lease_id: str) -> None:
        """End the lease now (the store revokes the credentials); one already gone is done."""
        ...
