"""The transport's bounds, wherever a call blocks: connect, TLS, a pooled connection, a body.

`Threads.run` cancelled at a deadline must free its thread whether the call
is stuck connecting (a full accept queue drops SYNs), in a TLS handshake, or
reading from a connection an earlier call left in the pool; and a session
reads no answer past its cap, a redirect's body included (requests reads
that whole before returning, even when not following it).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from secretloom.providers.egress import EgressPolicy
from secretloom.providers.transport import GuardedSession, ResponseTooLarge, Threads
from tests.openbao.hostile import Hostile, flood

DEADLINE = 0.5
FREE = 1.0  # a freed thread takes a new call at once; a blocked one not for a minute
SOCKET_TIMEOUT = 60.0  # what a per-read timeout alone would let a call hang for
MiB = 1024 * 1024


def session(max_body: int = MiB) -> GuardedSession:
    return GuardedSession(EgressPolicy(), verify=True, max_body=max_body)


async def freed_after_deadline(threads: Threads, call: Callable[[], Any]) -> float:
    """Run `call` until the deadline cuts it; then how long the thread took to be free."""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(DEADLINE):
            await threads.run(call)
    start = time.monotonic()
    async with asyncio.timeout(FREE * 2):
        await threads.run(lambda: None)
    return time.monotonic() - start


@contextlib.contextmanager
def full_backlog() -> Iterator[int]:
    """A port whose accept queue is full: connecting there waits for SYN retries."""
    with socket.create_server(("127.0.0.1", 0), backlog=0) as listener:
        port = listener.getsockname()[1]
        fillers: list[socket.socket] = []
        try:
            for _ in range(8):
                filler = socket.socket()
                fillers.append(filler)
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", port))
            with socket.socket() as probe:
                probe.settimeout(0.3)
                with pytest.raises(TimeoutError):  # proves the queue is full
                    probe.connect(("127.0.0.1", port))
            yield port
        finally:
            for filler in fillers:
                filler.close()


async def test_a_call_stuck_connecting_frees_its_thread() -> None:
    threads = Threads(1, name="test")
    with full_backlog() as port:
        url = f"http://127.0.0.1:{port}/"
        freed = await freed_after_deadline(
            threads, lambda: session().get(url, timeout=SOCKET_TIMEOUT)
        )
    assert freed < FREE


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_a_silent_server_frees_the_thread_in_a_read_or_a_tls_handshake(
    scheme: str,
) -> None:
    threads = Threads(1, name="test")
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepted in the backlog, mute
        url = f"{scheme}://127.0.0.1:{silent.getsockname()[1]}/"
        freed = await freed_after_deadline(
            threads, lambda: session().get(url, timeout=SOCKET_TIMEOUT)
        )
    assert freed < FREE


def _answer_once_then_hang(conn: socket.socket, stop: threading.Event) -> None:
    """Keep-alive: the first request gets an answer, the next one on the connection none."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    stop.wait()


async def test_a_pooled_connection_an_earlier_call_opened_is_cut_too() -> None:
    threads = Threads(1, name="test")
    client = session()
    with Hostile(_answer_once_then_hang, passes_health=False) as server:
        first = await threads.run(lambda: client.get(server.address, timeout=SOCKET_TIMEOUT))
        assert first.content == b"ok"
        freed = await freed_after_deadline(
            threads, lambda: client.get(server.address, timeout=SOCKET_TIMEOUT)
        )
        assert len(server.requests) == 1, "the second call did not reuse the pooled connection"
    assert freed < FREE


async def test_no_answer_is_read_past_the_cap_not_even_an_unfollowed_redirect() -> None:
    client = session(max_body=MiB)
    redirect = flood(64 * MiB, status=b"302 Found", headers=b"Location: /elsewhere\r\n")
    too_large = r"^answered with more than 1 MiB, refused$"
    with (
        Hostile(redirect, passes_health=False) as server,
        pytest.raises(ResponseTooLarge, match=too_large),
    ):
        await asyncio.to_thread(
            client.get, server.address, timeout=SOCKET_TIMEOUT, allow_redirects=False
        )
    with Hostile(flood(MiB // 2), passes_health=False) as server:  # under the cap: read whole
        answer = await asyncio.to_thread(client.get, server.address, timeout=SOCKET_TIMEOUT)
    assert MiB // 2 < len(answer.content) < MiB
