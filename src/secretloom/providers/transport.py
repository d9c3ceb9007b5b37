"""A requests session that connects only where the egress policy allows.

The egress policy (`providers/egress.py`) must hold for the address a socket
really connects to, not for the name in a URL: a tenant's DNS name can
resolve, or re-bind between two requests, to an address the operator never
listed. So the check sits in urllib3's `_new_conn`, the one place where a
name becomes a socket: the name is resolved once, the policy filters the
resolved addresses, and the socket connects to one of those very addresses.
TLS still verifies the certificate against the URL's host name (urllib3
passes `conn.host` as server name), so pinning an address changes nothing
about certificate checks.

A session also pins each (host, port) to the first address it connected to.
A provider that trusts a server only after it answered once in the server's
own shape (see the Vault provider) needs later requests to reach that same
server: without the pin, a name that re-binds after the check would let a
tenant aim the trusted client, and its detailed error messages, at another
host. A later connection whose name no longer resolves to the pinned address
raises `ServerMoved` without connecting; the provider then forgets the pin
(`forget_addresses`) and checks the server again before trusting it.

Both refusals (`EgressDenied`, `ServerMoved`) are plain exceptions, not
`OSError`s, so urllib3 and requests let them through unwrapped and the
provider can tell them from a network failure. The session ignores the
environment (`trust_env = False`): an HTTP(S)_PROXY would make the socket's
peer the proxy, hiding the real destination from the check, `.netrc` could
add credentials and REQUESTS_CA_BUNDLE would widen TLS trust.
"""

from __future__ import annotations

import socket
import sys
import threading
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family, create_connection

from secretloom.providers.egress import EgressPolicy


class ServerMoved(Exception):
    """The pinned server's name now resolves elsewhere; nothing was sent."""


class _Guard:
    """The policy and the pins of one session; shared by its connection threads."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self._lock = threading.Lock()
        self._pins: dict[tuple[str, int], str] = {}

    def connect(self, conn: HTTPConnection) -> socket.socket:
        host, port = conn.host, conn.port
        try:
            infos = socket.getaddrinfo(host, port, allowed_gai_family(), socket.SOCK_STREAM)
        except socket.gaierror as err:
            raise NameResolutionError(host, conn, err) from err
        resolved = list(dict.fromkeys(str(info[4][0]) for info in infos))
        error: Exception | None = None
        for address in self._candidates(host, port, resolved):
            try:
                sock = create_connection(
                    (address, port),
                    conn.timeout,
                    source_address=conn.source_address,
                    socket_options=conn.socket_options,
                )
            except TimeoutError as err:
                error = ConnectTimeoutError(conn, f"connection to {host} timed out ({err})")
            except OSError as err:
                error = NewConnectionError(conn, f"failed to connect: {err}")
            else:
                with self._lock:
                    self._pins.setdefault((host, port), address)
                sys.audit("http.client.connect", conn, host, port)
                return sock
        assert error is not None  # `_candidates` never returns an empty list
        raise error

    def _candidates(self, host: str, port: int, resolved: list[str]) -> list[str]:
        allowed = self.policy.allowed(host=host, addresses=resolved, port=port)
        with self._lock:
            pinned = self._pins.get((host, port))
        if pinned is None:
            return allowed
        if pinned in allowed:
            return [pinned]
        raise ServerMoved(
            f"{host} port {port} no longer resolves to {pinned} (now {', '.join(allowed)})"
        )

    def forget(self) -> None:
        with self._lock:
            self._pins.clear()


class _GuardedHTTPConnection(HTTPConnection):
    def __init__(self, *args: Any, guard: _Guard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard = guard

    def _new_conn(self) -> socket.socket:
        return self._guard.connect(self)


class _GuardedHTTPSConnection(_GuardedHTTPConnection, HTTPSConnection):
    """TLS on top: HTTPSConnection.connect() calls our `_new_conn`, then wraps the socket."""


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _PoolManager(PoolManager):
    def __init__(self, guard: _Guard, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._guard = guard
        self.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)
        # Connection keyword arguments, not pool ones: the pool key cannot hold a guard.
        pool.conn_kw["guard"] = self._guard
        return pool


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, guard: _Guard) -> None:
        self._guard = guard
        super().__init__()

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager = _PoolManager(
            self._guard, num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
        )


class GuardedSession(requests.Session):
    """Every connection checked against `policy` and pinned per (host, port)."""

    def __init__(self, policy: EgressPolicy, *, verify: bool | str) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = verify
        self._guard = _Guard(policy)
        adapter = _GuardedAdapter(self._guard)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def forget_addresses(self) -> None:
        """Drop the pins and every pooled connection: the next request resolves afresh."""
        self._guard.forget()
        self.close()  # adapters stay usable; their pools are rebuilt on demand
