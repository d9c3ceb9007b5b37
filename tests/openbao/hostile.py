"""Store servers an attacker runs on loopback: a tarpit and a flood.

These are not stand-ins for Vault. A tenant chooses a store's server, so the
controller must survive whatever that server does: answer one byte every
few seconds forever (a per-socket-read timeout never fires on that), or send
an endless body. Each server answers `sys/health` in Vault's shape only when
told to, as any attacker can, so that the provider trusts it and sends the
request that is then answered badly.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

# What makes a client trust a server as Vault (see providers/vault.py).
VAULT_HEALTH = b'{"initialized":true,"sealed":false,"standby":false,"version":"2.0.0"}'
Behaviour = Callable[[socket.socket, threading.Event], None]


def trickle(every: float) -> Behaviour:
    """A 200 whose headers never end: one byte every `every` seconds until stopped."""

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: ")
        conn.settimeout(every)
        while not stop.is_set():
            try:
                if not conn.recv(1):
                    return  # the client hung up: notice it now, not at the next byte
            except TimeoutError:
                conn.sendall(b"a")

    return answer


def flood(total: int, *, status: bytes = b"200 OK", headers: bytes = b"") -> Behaviour:
    """A chunked JSON body of about `total` bytes, generated on the fly."""
    block = b"x" * 65536

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(
            b"HTTP/1.1 %s\r\n%sContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" % (status, headers)
        )
        sent = 0
        for data in itertools.chain([b'{"data":{"data":{"k":"'], itertools.repeat(block)):
            if sent >= total or stop.is_set():
                break
            conn.sendall(b"%x\r\n%s\r\n" % (len(data), data))
            sent += len(data)
        conn.sendall(b'4\r\n"}}}\r\n0\r\n\r\n')

    return answer


class Hostile:
    """A loopback server: `behave` answers every request, except a passed health check."""

    def __init__(self, behave: Behaviour, *, passes_health: bool) -> None:
        self._behave = behave
        self._passes_health = passes_health
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.requests: list[tuple[float, str]] = []  # (monotonic time, path), health excluded
        self.most_open = 0  # the most requests answered at once
        self._open = 0

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def requests_since(self, start: float) -> int:
        with self._lock:
            return sum(1 for at, _ in self.requests if at >= start)

    def __enter__(self) -> Hostile:
        self._spawn(self._accept)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=10)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            path = head.split(b" ", 2)[1].decode()
            if self._passes_health and path.startswith("/v1/sys/health"):
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(VAULT_HEALTH), VAULT_HEALTH)
                )
                return
            with self._lock:
                self.requests.append((time.monotonic(), path))
                self._open += 1
                self.most_open = max(self.most_open, self._open)
            try:
                self._behave(conn, self._stop)
            finally:
                with self._lock:
                    self._open -= 1
