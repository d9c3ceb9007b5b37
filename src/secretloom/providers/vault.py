"""The Vault / OpenBao KV provider, on hvac.

hvac is synchronous, so every request runs on one of the client's own four
threads (`transport.Threads`), never the event loop's shared default pool; a
lock makes concurrent first calls share one login. A client obtained by login
re-logs in at two thirds of its token's TTL, so a caller that pools clients
per store never reads with an expired token.

A store's server cannot hang or flood the controller (issue 10):

* Every public method (`get`, `get_all`, `validate`, and the revocation in
  `close`) runs under one total deadline, `ProviderContext.timeout` (10 s by
  default, `--provider-timeout`): the server check, a login or renewal and
  the read share it, and so does the wait for the lock or for a free thread.
  Past it the call is `Unavailable` ("... did not answer within 10s, timed
  out") and its sockets are shut down, which frees its thread; a server
  never trusted as Vault (below) gets the uniform message instead, the
  deadline going to the log. The per-read socket timeout stays, as a floor.
* An answer is read no further than `MAX_RESPONSE_BYTES` (2 MiB: a Secret
  holds at most 1 MiB, so a KV answer twice that cannot be synced anyway);
  past it the call is `Unavailable` naming the path, never the content.

Secrets never reach an error or a log line, by construction rather than by
scrubbing:

* hvac builds its exceptions from the response body (which may echo a value
  or a request field), so hvac is given an adapter that raises `_HTTPStatus`
  carrying the status code only; hvac's exception text is never built.
* Messages are made from request coordinates (server, namespace, mount, path,
  property, auth method, status). Every `ProviderError` is raised outside the
  `except` block that caught the cause, so `__cause__` and `__context__` are
  both None and no traceback carries the original exception.
* hvac falls back to ambient configuration when an argument is None
  (VAULT_TOKEN, ~/.vault-token, VAULT_CACERT, VAULT_CLIENT_CERT): every
  argument is passed explicitly, so a store uses only its own spec.
* Redirects are not followed: requests forwards `X-Vault-Token` to wherever a
  redirect points. Standby nodes forward requests themselves, so a redirect
  only shows up behind an unusual proxy, and it surfaces as Unavailable.

A store's `server` is chosen by whoever writes the store, and the controller
connects from inside the cluster, so the provider must not become a port
scanner whose answers a tenant reads in status conditions (server-side
request forgery, CWE-918):

* Every connection goes through `transport.GuardedSession`: the operator's
  egress policy (`ProviderContext.egress`, `--store-servers`) is checked
  against the address the socket really connects to, and that address is
  pinned.
* A server is trusted only after it answered once in Vault's shape: an
  unauthenticated `GET sys/health` (sealed and standby nodes answer 200 with
  the query used) returning Vault's JSON fields. Until then every failure
  (refused, reset, timed out, TLS mismatch, refused by the egress policy, an
  HTTP server that is not Vault) is the one `NOT_VAULT` message, and the
  cause goes to the controller's log at WARNING, for the operator. No
  credential is read into a request, and no ServiceAccount token is minted,
  before that check passed. Once it did, failures keep their distinct
  messages (sealed, 403, connection failed...), which describe a Vault server
  the tenant may use anyway. If the server's name later resolves elsewhere
  (`ServerMoved`), the trust is dropped and the check runs again.

Trade-offs:

* The CA bundle is written to a private temp file (mode 0600, removed on
  close) because requests verifies against a path; an `ssl.SSLContext` would
  avoid the file but requests merges REQUESTS_CA_BUNDLE into it, widening
  trust. The controller therefore needs a writable temp dir (an emptyDir at
  /tmp under readOnlyRootFilesystem).
* `validate()` reads `sys/internal/ui/mounts/<mount>`, the endpoint the Vault
  CLI uses for its KV preflight: any token with any capability under the mount
  may read it, so a least-privilege policy (read on `<mount>/data/app/*`)
  needs no extra grant, whereas `sys/mounts/<mount>/tune` or `<mount>/config`
  would. It reports the engine type and KV version, so a v1/v2 mismatch is
  caught before the first read. It cannot tell "no such mount" from "no
  access" (both 403) and the message says so.
* `ValueRef.path` is relative to the store's mount (`spec.path`); `..` and
  empty segments are refused because the HTTP stack would normalise them and
  let a reference escape the mount.

Dynamic secrets (`LeaseProvider`, issue 14): `issue` reads (or, with
parameters, writes) a path from the server's root, e.g. `database/creds/app`,
since a secrets engine is its own mount, and only a path the store's
`dynamicPaths` list and no path under a reserved root (`api/vault.py`); `renew` and `revoke` use
`sys/leases/renew` and `sys/leases/revoke`. A static role (`database/static-creds/<role>`, a
database user the engine rotates itself) answers without a lease: its `Lease`
has an empty id and the TTL until the next rotation. Vault revokes the leases a token
obtained when that token is revoked, so once a client has issued a lease it
never revokes its own token again (on re-login or close): the old token
lives out its TTL, and the leases with it. Credentials therefore live at most
as long as the store's token: use a token (or an auth role) whose TTL
outlives the leases' max TTL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import hvac
import requests

from secretloom.api.base import Model
from secretloom.api.vault import (
    CAProvider,
    SecretKeyRef,
    VaultProviderSpec,
    clean_path,
    dynamic_path_allowed,
    path_problem,
    reserved_root,
)
from secretloom.providers.egress import EgressDenied
from secretloom.providers.protocol import (
    InvalidConfig,
    Lease,
    NotFound,
    Provider,
    ProviderContext,
    ProviderError,
    Unauthorized,
    Unavailable,
    ValueRef,
)
from secretloom.providers.registry import ProviderFactory
from secretloom.providers.transport import GuardedSession, ResponseTooLarge, ServerMoved, Threads

_log = logging.getLogger(__name__)

T = TypeVar("T")
Phase = Literal["read", "login", "check", "lease"]

MAX_RESPONSE_BYTES = 2 * 1024 * 1024
_THREADS = 4  # per store client: what a hung store can hold at most
NOT_VAULT = (
    "the store server did not answer as a Vault/OpenBao server (unreachable, refused by "
    "the operator's egress policy, or not Vault); the controller log has details"
)
# Sealed, uninitialised and standby nodes all answer 200, so only "not Vault" fails.
_HEALTH_QUERY = {
    "standbyok": "true",
    "perfstandbyok": "true",
    "sealedcode": "200",
    "uninitcode": "200",
}
_HEALTH_FIELDS: dict[str, type] = {
    "initialized": bool,
    "sealed": bool,
    "standby": bool,
    "version": str,
}
_HEALTH_MAX_BYTES = 64 * 1024
_RENEW_AT_FRACTION_OF_TTL = 2 / 3
_AUTH_NAMES = {"tokenSecretRef": "token", "appRole": "approle", "kubernetes": "kubernetes"}
_UNAVAILABLE_REASONS = {
    429: "rate limited",
    500: "internal server error",
    501: "not initialized",
    502: "bad gateway",
    503: "sealed or unavailable",
    504: "gateway timeout",
}


class _HTTPStatus(Exception):
    """A response outside 2xx, reduced to its status code: the body may hold secrets."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _StatusAdapter(hvac.adapters.JSONAdapter):  # type: ignore[misc]  # hvac is untyped
    """hvac's JSON adapter, raising `_HTTPStatus` instead of hvac's body-quoting errors."""

    def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        raise_exception: bool = True,
        **kwargs: Any,
    ) -> Any:
        # Non-2xx always raises, whatever hvac asked for: a swallowed error would
        # come back as a Response object that callers would misread as data.
        response = super().request(method, url, headers=headers, raise_exception=False, **kwargs)
        if isinstance(response, requests.Response) and not 200 <= response.status_code < 300:
            response.close()
            raise _HTTPStatus(response.status_code)
        return response


class _NotVault(Exception):
    """The health check's answer is not Vault's; the message says what it was, never its body."""


def _http_error(status: int, subject: str, phase: Phase) -> ProviderError:
    if status in (401, 403):
        hint = ": no capability under the mount, or no such mount" if phase == "check" else ""
        return Unauthorized(f"{subject}: permission denied{hint} (HTTP {status})")
    if status == 400 and phase == "login":
        return Unauthorized(f"{subject}: credentials rejected (HTTP 400)")
    if phase == "lease" and status in (400, 404):
        return NotFound(f"{subject}: lease not found, expired or not renewable (HTTP {status})")
    if status == 404:
        if phase == "read":
            return NotFound(f"{subject}: not found (HTTP 404)")
        return InvalidConfig(f"{subject}: endpoint not found (HTTP 404)")
    if status == 400:
        return InvalidConfig(f"{subject}: request rejected as invalid (HTTP 400)")
    if 300 <= status < 400:
        return Unavailable(f"{subject}: redirect not followed, the token stays put (HTTP {status})")
    reason = _UNAVAILABLE_REASONS.get(status, "unexpected response")
    return Unavailable(f"{subject}: {reason} (HTTP {status})")


def _transport_error(exc: requests.RequestException, subject: str) -> Unavailable:
    # Order matters: SSLError and ConnectTimeout are also ConnectionErrors.
    if isinstance(exc, requests.exceptions.SSLError):
        reason = "TLS verification failed (does caProvider hold the server's CA?)"
    elif isinstance(exc, requests.exceptions.Timeout):
        reason = "timed out"
    elif isinstance(exc, requests.exceptions.ConnectionError):
        reason = "connection failed"
    else:
        reason = f"request failed ({type(exc).__name__})"
    return Unavailable(f"{subject}: {reason}")


def _translate(exc: Exception, subject: str, phase: Phase) -> ProviderError:
    if isinstance(exc, _HTTPStatus):
        return _http_error(exc.status, subject, phase)
    if isinstance(exc, EgressDenied):
        return Unavailable(f"{subject}: refused by the egress policy: {exc}")
    if isinstance(exc, (ServerMoved, _NotVault, ResponseTooLarge)):
        return Unavailable(f"{subject}: {exc}")
    if isinstance(exc, requests.RequestException):
        return _transport_error(exc, subject)
    # Anything else (an unexpected response shape inside hvac, say) is named
    # by type only: its text could quote the response.
    return Unavailable(f"{subject}: unexpected {type(exc).__name__}")


def _check_health(session: GuardedSession, server: str, timeout: float) -> None:
    """Raise `_NotVault` unless an unauthenticated `sys/health` answers as Vault does.

    The session, not hvac's adapter: hvac would add the store's token.
    """
    response = session.get(
        f"{server.rstrip('/')}/v1/sys/health",
        params=_HEALTH_QUERY,
        headers={"X-Vault-Request": "true"},
        timeout=timeout,
        allow_redirects=False,
    )
    if response.status_code != 200:
        raise _NotVault(f"answered HTTP {response.status_code}")
    if len(response.content) > _HEALTH_MAX_BYTES:  # the session read at most its own cap
        raise _NotVault("answered with an oversized body")
    try:
        body = json.loads(response.content)
    except ValueError:
        raise _NotVault("answered with a body that is not JSON") from None
    if not isinstance(body, dict) or any(
        not isinstance(body.get(name), kind) for name, kind in _HEALTH_FIELDS.items()
    ):
        raise _NotVault("answered JSON without Vault's health fields")


def _body(response: Any) -> dict[str, Any]:
    """The JSON object of a response; {} for anything else (204, non-JSON)."""
    return response if isinstance(response, dict) else {}


def _token_ttl(login_response: Any) -> int | None:
    """Seconds the token obtained by a login lives; None if it does not expire."""
    ttl = _body(_body(login_response).get("auth")).get("lease_duration")
    return ttl if isinstance(ttl, int) and ttl > 0 else None


def _lease(body: dict[str, Any], subject: str) -> Lease:
    """The credentials of an issuing endpoint's answer; its shape checked, never quoted."""
    data, lease_id, ttl = body.get("data"), body.get("lease_id"), body.get("lease_duration")
    if not isinstance(data, dict) or not isinstance(lease_id, str) or not isinstance(ttl, int):
        raise Unavailable(f"{subject}: unexpected response shape (no lease)")
    if not lease_id and not ttl and isinstance(data.get("ttl"), int):
        ttl = data["ttl"]  # a static role: no lease, rotated by the engine in `ttl` seconds
    return Lease(
        lease_id=lease_id,
        data={name: _encode(value) for name, value in data.items()},
        ttl=float(ttl),
        renewable=body.get("renewable") is True,
    )


def _encode(value: Any) -> bytes:
    """A KV property as bytes: strings as UTF-8, anything else as compact JSON."""
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _decode_credential(raw: bytes) -> str | None:
    """A token or secret ID without surrounding whitespace; None if empty or not UTF-8."""
    try:
        return raw.decode().strip() or None
    except UnicodeDecodeError:
        return None


def _holds_certificates(pem: bytes) -> bool:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=pem.decode("ascii"))
    except (ssl.SSLError, ValueError):
        return False
    return context.cert_store_stats()["x509"] > 0


def _write_private_file(data: bytes) -> str:
    fd, path = tempfile.mkstemp(prefix="secretloom-vault-ca-", suffix=".pem")  # mode 0600
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    return path


class VaultProvider:
    """A client for one Vault KV mount; create per reconcile (or pool) and always close."""

    def __init__(
        self,
        spec: VaultProviderSpec,
        ctx: ProviderContext,
        *,
        timeout: float | None = None,  # for tests; the controller's is `ctx.timeout`
        clock: Callable[[], float] = time.monotonic,  # for tests
    ) -> None:
        self._spec = spec
        self._ctx = ctx
        self._timeout = ctx.timeout if timeout is None else timeout
        self._clock = clock
        self._threads = Threads(_THREADS, name="secretloom-vault")
        self._lock = asyncio.Lock()
        self._client: Any = None
        self._session: GuardedSession | None = None
        self._trusted = False  # the server answered as Vault (see the module docstring)
        self._ca_file: str | None = None
        self._logged_in = False
        self._renew_at: float | None = None
        self._closed = False
        self._auth_name = _AUTH_NAMES[spec.auth.methods()[0]]
        self._holds_leases = False  # then the token is never revoked (see the docstring)

    # -- Provider protocol -------------------------------------------------

    async def get(self, ref: ValueRef) -> bytes:
        subject = self._subject(ref)
        if ref.property is None:
            raise InvalidConfig(f"{subject}: a property is required to read one value")
        data = await self._bounded(lambda: self._read(ref), subject)
        if ref.property not in data:
            raise NotFound(f"{subject}: property not found")
        return _encode(data[ref.property])

    async def get_all(self, ref: ValueRef) -> dict[str, bytes]:
        data = await self._bounded(lambda: self._read(ref), self._subject(ref))
        return {name: _encode(value) for name, value in data.items()}

    async def validate(self) -> None:
        subject = f"{self._subject()} mount check"
        await self._bounded(lambda: self._check_mount(subject), subject)

    async def close(self) -> None:
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            client, self._client = self._client, None
        try:
            if client is not None:
                if self._logged_in and not self._holds_leases:
                    await self._revoke(client)
                client.adapter.close()
        finally:
            self._threads.close()
            if self._ca_file is not None:
                os.unlink(self._ca_file)
                self._ca_file = None

    # -- LeaseProvider protocol ----------------------------------------------------

    async def issue(self, ref: ValueRef, parameters: Mapping[str, str] | None = None) -> Lease:
        path = clean_path(ref.path)
        subject = self._lease_subject(f"path {path!r}")
        problem = path_problem(path)
        if problem is not None:
            raise InvalidConfig(f"{subject}: path {problem}")
        root = reserved_root(path)
        if root is not None:
            raise InvalidConfig(f"{subject}: paths under {root}/ are never issued")
        if not dynamic_path_allowed(path, self._spec.dynamic_paths):
            raise InvalidConfig(f"{subject}: the store's dynamicPaths do not list this path")

        async def issue() -> Lease:
            client = await self._ready()
            url = f"/v1/{quote(path)}"
            self._holds_leases = True  # before the request: a lease may exist even on a timeout
            if parameters:
                response = await self._call(
                    lambda: client.adapter.post(url, json=dict(parameters)), subject, "read"
                )
            else:
                response = await self._call(lambda: client.adapter.get(url), subject, "read")
            return _lease(_body(response), subject)

        return await self._bounded(issue, subject)

    async def renew(self, lease_id: str, increment: float) -> float:
        subject = self._lease_subject("lease renew")

        async def renew() -> float:
            client = await self._ready()
            body = {"lease_id": lease_id, "increment": max(1, int(increment))}
            response = await self._call(
                lambda: client.adapter.put("/v1/sys/leases/renew", json=body), subject, "lease"
            )
            ttl = _body(response).get("lease_duration")
            if not isinstance(ttl, int) or ttl <= 0:
                raise NotFound(f"{subject}: the lease was not extended")
            return float(ttl)

        return await self._bounded(renew, subject)

    async def revoke(self, lease_id: str) -> None:
        subject = self._lease_subject("lease revoke")

        async def revoke() -> None:
            client = await self._ready()
            body = {"lease_id": lease_id}
            await self._call(
                lambda: client.adapter.put("/v1/sys/leases/revoke", json=body), subject, "lease"
            )

        await self._bounded(revoke, subject)

    def _lease_subject(self, what: str) -> str:
        namespace = f" namespace {self._spec.namespace!r}" if self._spec.namespace else ""
        return f"vault {self._spec.server}{namespace} {what} ({self._auth_name} auth)"

    # -- reads ----------------------------------------------------------------

    async def _bounded(self, work: Callable[[], Awaitable[T]], subject: str) -> T:
        """`work()` within the call's total deadline; past it, `Unavailable`.

        Cancelling `work` at the deadline cancels the thread call it awaits,
        which shuts that call's sockets down (`transport.Threads`).
        """
        deadline = asyncio.timeout(self._timeout)
        try:
            async with deadline:
                return await work()
        except TimeoutError:
            if not deadline.expired():  # not ours: some inner timeout
                raise
        if not self._trusted:  # never heard from as Vault: the log says why, not the tenant
            subject = f"{self._subject()} health check"
        error = Unavailable(f"{subject}: did not answer within {self._timeout:g}s, timed out")
        raise (error if self._trusted else self._distrust(error)) from None

    async def _check_mount(self, subject: str) -> None:
        client = await self._ready()
        url = f"/v1/sys/internal/ui/mounts/{quote(self._spec.path)}"
        response = await self._call(lambda: client.adapter.get(url), subject, "check")
        mount = _body(_body(response).get("data"))
        if mount.get("type") != "kv":
            raise InvalidConfig(f"{subject}: not a KV secrets engine")
        actual = "v2" if _body(mount.get("options")).get("version") == "2" else "v1"
        if actual != self._spec.version:
            raise InvalidConfig(
                f"{subject}: the mount is KV {actual} but the store says {self._spec.version}"
            )

    async def _read(self, ref: ValueRef) -> dict[str, Any]:
        path = clean_path(ref.path)
        subject = self._subject(ref)
        problem = path_problem(path)
        if problem is not None:
            raise InvalidConfig(f"{subject}: path {problem}")
        if ref.stage is not None or ref.version_id is not None:
            raise InvalidConfig(f"{subject}: versionStage and versionId are AWS pins, not Vault's")
        if ref.version is not None and self._spec.version == "v1":
            raise InvalidConfig(f"{subject}: a version pin needs a KV v2 mount")
        if ref.version is not None and ref.version < 1:
            raise InvalidConfig(f"{subject}: version must be 1 or more")
        client = await self._ready()
        mount, v2 = self._spec.path, self._spec.version == "v2"

        def read() -> Any:
            if v2:
                return client.secrets.kv.v2.read_secret_version(
                    path=path, version=ref.version, mount_point=mount, raise_on_deleted_version=True
                )
            return client.secrets.kv.v1.read_secret(path=path, mount_point=mount)

        _log.debug("vault read: %s", subject)
        body = _body(await self._call(read, subject, "read")).get("data")
        data = _body(body).get("data") if v2 else body  # v2 nests data under data
        if not isinstance(data, dict):
            raise Unavailable(f"{subject}: unexpected response shape")
        return data

    async def _call(self, fn: Callable[[], T], subject: str, phase: Phase) -> T:
        """Run one blocking hvac call; failures become a `ProviderError` with no chain."""
        try:
            return await self._threads.run(fn)
        except Exception as exc:  # translated below; hvac/requests text may quote bodies
            error = _translate(exc, subject, phase)
            moved = isinstance(exc, (ServerMoved, EgressDenied))
        if moved:  # the trusted address is gone: whatever answers now must prove itself
            raise self._distrust(error) from None
        _log.debug("vault request failed: %s", error)
        raise error from None

    async def _check_server(self) -> None:
        """Trust the server once it answered as Vault; until then, one message for all."""
        session = self._session
        assert session is not None
        try:
            await self._threads.run(
                lambda: _check_health(session, self._spec.server, self._timeout)
            )
        except Exception as exc:  # the cause is for the operator's log only
            error = _translate(exc, f"{self._subject()} health check", "check")
        else:
            self._trusted = True
            return
        raise self._distrust(error) from None

    def _distrust(self, cause: ProviderError) -> Unavailable:
        """Forget the server's address and trust; log `cause`; the tenant's message."""
        self._trusted = False
        if self._session is not None:
            self._session.forget_addresses()
        _log.warning("store server not trusted as Vault: %s", cause)
        return Unavailable(NOT_VAULT)

    def _subject(self, ref: ValueRef | None = None) -> str:
        """Where a request went, for messages: request coordinates only."""
        words = [f"vault {self._spec.server}"]
        if self._spec.namespace is not None:
            words.append(f"namespace {self._spec.namespace!r}")
        words.append(f"mount {self._spec.path!r}")
        if ref is not None:
            words.append(f"path {clean_path(ref.path)!r}")
            if ref.version is not None:
                words.append(f"version {ref.version}")
            if ref.property is not None:
                words.append(f"property {ref.property!r}")
        words.append(f"({self._auth_name} auth)")
        return " ".join(words)

    # -- client and login -----------------------------------------------------

    async def _ready(self) -> Any:
        """The hvac client, connected and holding a token that is not about to expire."""
        async with self._lock:
            if self._closed:
                raise RuntimeError("vault provider used after close()")
            if self._client is None:
                self._client = await self._connect()
            if not self._trusted:
                await self._check_server()
            if self._needs_login():
                await self._login(self._client)
            return self._client

    def _needs_login(self) -> bool:
        if self._auth_name == "token":
            return False
        expiring = self._renew_at is not None and self._clock() >= self._renew_at
        return not self._logged_in or expiring

    async def _connect(self) -> Any:
        token = ""  # "" not None: None makes hvac read VAULT_TOKEN or ~/.vault-token
        if self._spec.auth.token_secret_ref is not None:
            token = await self._read_credential(self._spec.auth.token_secret_ref, "tokenSecretRef")
        if self._spec.ca_provider is not None and self._ca_file is None:
            self._ca_file = await self._write_ca(self._spec.ca_provider)
        verify: bool | str = self._ca_file or True
        self._session = GuardedSession(self._ctx.egress, verify=verify, max_body=MAX_RESPONSE_BYTES)
        return hvac.Client(
            url=self._spec.server,
            token=token,
            verify=verify,
            cert=(),  # () not None: None makes hvac use VAULT_CLIENT_CERT
            timeout=self._timeout,
            allow_redirects=False,
            namespace=self._spec.namespace,
            adapter=_StatusAdapter,
            session=self._session,
        )

    async def _write_ca(self, ca: CAProvider) -> str:
        read = self._ctx.read_secret_key if ca.type == "Secret" else self._ctx.read_configmap_key
        pem = await read(ca.name, ca.key)
        if not _holds_certificates(pem):
            raise InvalidConfig(
                f"{self._subject()}: caProvider {ca.type} {ca.name!r} key {ca.key!r} "
                "holds no PEM certificate"
            )
        # A few KiB to a local temp dir: written here, so that a call cancelled
        # at its deadline cannot leave a file that `close` does not know of.
        return _write_private_file(pem)

    async def _read_credential(self, ref: SecretKeyRef, field: str) -> str:
        # Reader errors propagate unchanged: the caller owns their kind and message.
        credential = _decode_credential(await self._ctx.read_secret_key(ref.name, ref.key))
        if credential is None:
            raise InvalidConfig(
                f"{self._subject()}: {field} Secret {ref.name!r} key {ref.key!r} "
                "is empty or not UTF-8"
            )
        return credential

    async def _login(self, client: Any) -> None:
        if self._logged_in and not self._holds_leases:
            await self._revoke(client)  # renewing: the old token would otherwise live out its TTL
        auth = self._spec.auth
        if auth.app_role is not None:
            app_role = auth.app_role
            subject = f"{self._subject()} login at auth/{app_role.path}"
            secret_id = await self._read_credential(app_role.secret_ref, "appRole.secretRef")
            response = await self._call(
                lambda: client.auth.approle.login(
                    role_id=app_role.role_id, secret_id=secret_id, mount_point=app_role.path
                ),
                subject,
                "login",
            )
        else:
            assert auth.kubernetes is not None  # the spec guarantees exactly one method
            kube = auth.kubernetes
            account = kube.service_account_ref
            subject = (
                f"{self._subject()} login at auth/{kube.mount_path} as role {kube.role!r} "
                f"(service account {account.name!r})"
            )
            if self._ctx.request_token is None:
                raise InvalidConfig(f"{subject}: this controller cannot request tokens")
            jwt = await self._ctx.request_token(account.name, account.audiences)
            response = await self._call(
                lambda: client.auth.kubernetes.login(
                    role=kube.role, jwt=jwt, mount_point=kube.mount_path
                ),
                subject,
                "login",
            )
        self._logged_in = True
        ttl = _token_ttl(response)
        self._renew_at = None if ttl is None else self._clock() + ttl * _RENEW_AT_FRACTION_OF_TTL
        _log.debug("vault login: %s (token ttl %ss)", subject, ttl)

    async def _revoke(self, client: Any) -> None:
        """Best effort, within a deadline: an unrevoked token still expires with its TTL."""
        self._logged_in = False
        subject = f"{self._subject()} token revoke"
        try:
            await self._bounded(
                lambda: self._call(client.auth.token.revoke_self, subject, "login"), subject
            )
        except ProviderError as err:
            _log.warning("%s", err)
        client.token = ""  # revoked or not, it is never sent again


class VaultFactory:
    """Registered under the `secretloom.providers` entry point as "vault"."""

    name = "vault"
    spec_model: type[Model] = VaultProviderSpec
    # get(ref with a property) == get_all(ref)[property]: reads are shared per path.
    whole_path_reads = True

    def create(self, spec: Model, ctx: ProviderContext) -> Provider:
        if not isinstance(spec, VaultProviderSpec):
            raise TypeError(f"vault provider needs a VaultProviderSpec, got {type(spec).__name__}")
        return VaultProvider(spec, ctx)


factory: ProviderFactory = VaultFactory()
