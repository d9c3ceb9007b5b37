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

Whoever writes a store also chooses how its server answers, so the transport
bounds what one answer may cost (issue 10: a store answering one byte every
5 s stopped every SecretSync of a cluster; a 200 MiB answer took the
controller from 82 to 1,709 MiB):

* Time. A socket timeout bounds each read, and a server that trickles one
  byte per read never trips it, while a blocking call in a thread cannot be
  cancelled. So a client runs its calls on `Threads`, its own small pool:
  cancelling `Threads.run` (the provider's total deadline) shuts down every
  socket the call opened or took from the pool, and its thread fails at once
  and is free again. `shutdown()`, never `close()`: a closed descriptor
  number can be re-used at once by another connection, which a late close
  would then cut. A call's slot is freed when its thread really is, so a
  store whose calls stick where no socket can cut them (a DNS lookup) holds
  only its own few threads, its later calls queue and meet their deadlines,
  and other stores never wait (the shared default pool that every store used
  before held six threads on two cores). Threads start on demand, so a store
  read by one call at a time keeps one idle thread, until its client closes.
* Size. Every answer is read at once and no further than the session's cap
  (`ResponseTooLarge` past it, naming nothing of the body), before hvac or
  requests (which reads a redirect's body whole) see it; urllib3 bounds
  decompression per read, so a compressed answer is capped decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from secretloom.providers.egress import EgressPolicy

T = TypeVar("T")
_MiB = 1024 * 1024
_READ_CHUNK = 64 * 1024
_running = threading.local()  # `.call`: the `_Call` a `Threads` thread is running, if any


class ServerMoved(Exception):
    """The pinned server's name now resolves elsewhere; nothing was sent."""


class ResponseTooLarge(Exception):
    """An answer longer than the session's cap; nothing of it is kept."""

    def __init__(self, limit: int) -> None:
        size = f"{limit // _MiB} MiB" if limit % _MiB == 0 else f"{limit} bytes"
        super().__init__(f"answered with more than {size}, refused")


class CallAborted(Exception):
    """The call this thread runs for was abandoned at its deadline: nothing new is opened."""


class _Call:
    """The sockets one blocking call uses, so that abandoning the call can shut them down.

    It holds duplicates (`socket.fromfd`), not the sockets themselves: the
    worker thread closes its sockets whenever it likes, and a descriptor
    number shut down after that could already name another connection. A
    duplicate names the same connection until this call closes it, at the
    end of the call; shutting it down ends the connection for every
    descriptor. Shutdowns and closes happen under one lock, never at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._aborted = False
        self._done = False

    def run(self, fn: Callable[[], T]) -> T:
        """In the worker thread: `fn`, with this call as the thread's running call."""
        _running.call = self
        try:
            return fn()
        finally:
            _running.call = None
            with self._lock:
                self._done = True
                for duplicate in self._sockets:
                    duplicate.close()
                self._sockets.clear()

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down if the call is abandoned; refuse it if that already happened."""
        duplicate = socket.fromfd(sock.fileno(), sock.family, sock.type)
        with self._lock:
            if not self._aborted:
                self._sockets.append(duplicate)
                return
        duplicate.close()
        raise CallAborted("the call was abandoned at its deadline")

    def abort(self) -> None:
        """From the event loop: every socket of the call stops, so its thread returns."""
        with self._lock:
            if self._done:
                return
            self._aborted = True
            for duplicate in self._sockets:
                with contextlib.suppress(OSError):  # not connected (yet, or any more)
                    duplicate.shutdown(socket.SHUT_RDWR)


def _watch(sock: socket.socket) -> None:
    """Let the call this thread runs for, if any, shut `sock` down when it is abandoned."""
    call: _Call | None = getattr(_running, "call", None)
    if call is not None:
        call.watch(sock)


class Threads:
    """A store client's own threads; `run` a blocking call on one, cut it on cancellation."""

    def __init__(self, count: int, *, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=count, thread_name_prefix=name)
        self._slots = asyncio.Semaphore(count)  # one per thread: waiting for one is cancellable

    async def run(self, fn: Callable[[], T]) -> T:
        """`fn()` on one of the threads; cancelling this shuts down the sockets `fn` uses."""
        await self._slots.acquire()
        call = _Call()
        try:
            future = asyncio.get_running_loop().run_in_executor(self._executor, call.run, fn)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(self._finished)
        try:
            return await asyncio.shield(future)
        finally:
            if not future.done():
                call.abort()

    def _finished(self, future: asyncio.Future[Any]) -> None:
        # The slot follows the thread, not the caller, who may have stopped waiting.
        self._slots.release()
        if not future.cancelled():
            future.exception()  # retrieved: an abandoned call's failure is nobody's to log

    def close(self) -> None:
        """No new calls; a call still running ends on its own (its caller abandoned it)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


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
        resolved: dict[str, Any] = {}  # address -> its first getaddrinfo entry, in order
        for info in infos:
            resolved.setdefault(str(info[4][0]), info)
        error: Exception | None = None
        for address in self._candidates(host, port, list(resolved)):
            family, _, proto, _, sockaddr = resolved[address]
            try:
                sock = _open(conn, family, proto, sockaddr)
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


def _open(conn: HTTPConnection, family: int, proto: int, sockaddr: Any) -> socket.socket:
    """A socket connected to `sockaddr`, watched by the running call before it can block."""
    sock = socket.socket(family, socket.SOCK_STREAM, proto)
    try:
        for option in conn.socket_options or ():
            sock.setsockopt(*option)
        sock.settimeout(conn.timeout)
        if conn.source_address is not None:
            sock.bind(conn.source_address)
        _watch(sock)
        sock.connect(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


class _GuardedHTTPConnection(HTTPConnection):
    def __init__(self, *args: Any, guard: _Guard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard = guard

    def _new_conn(self) -> socket.socket:
        return self._guard.connect(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        # A pooled connection was opened by an earlier call: this call watches
        # it too (a connection opened by this call is watched twice, harmlessly).
        if self.sock is not None:
            _watch(self.sock)
        super().request(*args, **kwargs)


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
    def __init__(self, guard: _Guard, max_body: int) -> None:
        self._guard = guard
        self._max_body = max_body
        super().__init__()

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        # Here, not in the session: requests reads a redirect's body whole before
        # the session's `send` returns, even when it does not follow the redirect.
        response = super().build_response(req, resp)
        _read_body(response, self._max_body)
        return response

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager = _PoolManager(
            self._guard, num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
        )


def _read_body(response: requests.Response, limit: int) -> None:
    """Read the (decoded) body now, up to `limit` bytes; past that, refuse it whole."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(_READ_CHUNK):
            size += len(chunk)
            if size > limit:
                raise ResponseTooLarge(limit)
            chunks.append(chunk)
    except BaseException:
        response.close()  # a half-read connection is never reused
        raise
    response._content = b"".join(chunks)  # requests' own cache: what `.content` returns


class GuardedSession(requests.Session):
    """Every connection checked against `policy` and pinned; answers read up to `max_body`."""

    def __init__(self, policy: EgressPolicy, *, verify: bool | str, max_body: int) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = verify
        self._guard = _Guard(policy)
        adapter = _GuardedAdapter(self._guard, max_body)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def forget_addresses(self) -> None:
        """Drop the pins and every pooled connection: the next request resolves afresh."""
        self._guard.forget()
        self.close()  # adapters stay usable; their pools are rebuilt on demand
