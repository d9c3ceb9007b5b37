"""Bounded provider work: a store server can never hang, flood or starve the controller.

Issue 10, reproduced on the real control plane: four SecretSyncs on a store
answering one byte every 5 s stopped every SecretSync of the cluster, and one
200 MiB KV answer took the controller from 82 to 1,709 MiB. Each test is one of
those attacks on the client a store gets: every call ends within its deadline
and frees its thread, a store's calls run on its own few threads, and an answer
is read no further than the size cap.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import pytest

from secretloom.providers.protocol import ProviderError, Unavailable, ValueRef
from secretloom.providers.vault import NOT_VAULT, VaultProvider
from secretloom.testing.openbao import OpenBaoServer

from .hostile import Hostile, flood, trickle
from .support import KV2, assert_untrusted, token_objects, token_store, unique

pytestmark = pytest.mark.openbao

DEADLINE = 1.0
SLACK = 1.0  # a loaded two-core machine: the bound is on a hang, not on speed
TRICKLE = 0.25  # one byte this often: no per-socket-read timeout ever fires
THREADS = 4  # a store client's own threads (providers/vault.py)
MiB = 1024 * 1024
# asyncio's default thread pool: what every store shared before issue 10.
DEFAULT_POOL = min(32, (os.cpu_count() or 1) + 4)
ANY_TOKEN = "t"  # hostile servers never check it


class Open(Protocol):
    def __call__(
        self, server: str, *, deadline: float = ..., token: str = ...
    ) -> VaultProvider: ...


@pytest.fixture
async def providers() -> AsyncIterator[Open]:
    """Store clients whose deadline comes, as in the controller, from their context."""
    opened: list[VaultProvider] = []

    def open_(server: str, *, deadline: float = DEADLINE, token: str = ANY_TOKEN) -> VaultProvider:
        ctx = dataclasses.replace(token_objects(token).context(), timeout=deadline)
        opened.append(VaultProvider(token_store(server), ctx))
        return opened[-1]

    yield open_
    for provider in opened:
        await provider.close()


async def fails_in_time(call: Awaitable[Any], deadline: float = DEADLINE) -> ProviderError:
    """The provider error `call` ends with, which must come within `deadline` (plus slack)."""
    start = time.monotonic()
    try:
        async with asyncio.timeout(deadline + SLACK):
            await call
    except ProviderError as err:
        assert time.monotonic() - start < deadline + SLACK
        return err
    raise AssertionError("the call succeeded")


async def eventually(probe: Callable[[], bool], timeout: float) -> bool:
    """Whether `probe` held within `timeout`; waiting is bounded, asserting is the caller's."""
    end = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > end:
            return False
        await asyncio.sleep(0.01)
    return True


def timed_out(subject: str) -> str:
    return f"{subject}: did not answer within {DEADLINE:g}s, timed out"


async def test_a_tarpit_never_trusted_gets_the_uniform_message_within_the_deadline(
    providers: Open, caplog: pytest.LogCaptureFixture
) -> None:
    with Hostile(trickle(TRICKLE), passes_health=False) as tarpit:
        vault = providers(tarpit.address)
        for call in (vault.validate, lambda: vault.get(ValueRef("app", "k"))):
            error = await fails_in_time(call())
            assert isinstance(error, Unavailable)
            assert_untrusted(error, caplog, f"did not answer within {DEADLINE:g}s, timed out")
            assert error.__cause__ is None and error.__context__ is None
        assert tarpit.requests, "the tarpit was never asked: the test proves nothing"


async def test_a_hung_store_holds_its_own_threads_only_and_frees_them_at_the_deadline(
    providers: Open,
) -> None:
    # Trusted (it answered sys/health as Vault), then every read trickles.
    with Hostile(trickle(TRICKLE), passes_health=True) as tarpit:
        vault = providers(tarpit.address)
        ref = ValueRef("app", "k")
        message = timed_out(
            f"vault {tarpit.address} mount 'kv2' path 'app' property 'k' (token auth)"
        )
        start = time.monotonic()
        errors = await asyncio.gather(*(fails_in_time(vault.get(ref)) for _ in range(2 * THREADS)))
        # Calls beyond the store's threads queued, and met the same deadline.
        assert [str(err) for err in errors] == [message] * (2 * THREADS)
        assert THREADS <= tarpit.requests_since(start) <= 2 * THREADS
        assert tarpit.most_open <= THREADS

        # The deadline shut the hung sockets down: every thread is free, so the
        # next calls reach the server at once instead of queueing behind them.
        start = time.monotonic()
        again = [asyncio.create_task(vault.get(ref)) for _ in range(THREADS)]
        reached = await eventually(lambda: tarpit.requests_since(start) >= THREADS, DEADLINE * 0.8)
        results = await asyncio.gather(*again, return_exceptions=True)
        assert reached, f"{tarpit.requests_since(start)} of {THREADS} calls reached the server"
        assert [str(result) for result in results] == [message] * THREADS


async def test_stores_hanging_on_a_tarpit_do_not_delay_another_store(
    bao: OpenBaoServer, root: Any, providers: Open
) -> None:
    path = unique("app")
    root.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "v"}, mount_point=KV2)
    honest = providers(bao.address, token=bao.root_token)
    hangers = max(8, DEFAULT_POOL + 1)  # more than a shared default pool could hold
    with Hostile(trickle(TRICKLE), passes_health=False) as tarpit:
        hanging = [
            asyncio.create_task(providers(tarpit.address, deadline=4.0).validate())
            for _ in range(hangers)
        ]
        await eventually(lambda: len(tarpit.requests) >= hangers, timeout=2.0)
        start = time.monotonic()
        async with asyncio.timeout(1.5):
            assert await honest.get(ValueRef(path, "k")) == b"v"
        prompt = time.monotonic() - start
        results = await asyncio.gather(*hanging, return_exceptions=True)
    assert all(isinstance(r, Unavailable) and str(r) == NOT_VAULT for r in results), results
    assert prompt < 1.5


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        found = re.search(rf"^{field}:\s+(\d+) kB$", status.read(), re.MULTILINE)
    assert found is not None
    return int(found.group(1))


def _reset_peak() -> int:
    """Reset the peak resident size (VmHWM) to the current one, in KiB, and return that."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    return _status_kib("VmRSS")


async def test_an_endless_answer_is_cut_at_the_cap_and_memory_stays_flat(
    providers: Open,
) -> None:
    with Hostile(flood(200 * MiB), passes_health=True) as server:
        address = server.address
        vault = providers(address, deadline=10.0)  # the cap must stop it, not the deadline
        before = _reset_peak()
        outcome = await asyncio.gather(vault.get(ValueRef("big", "k")), return_exceptions=True)
        peak = _status_kib("VmHWM")
    grown = (peak - before) / 1024
    assert grown < 30, f"resident memory grew by {grown:.0f} MiB reading a 200 MiB answer"
    (refused,) = outcome
    assert isinstance(refused, Unavailable)
    assert str(refused) == (
        f"vault {address} mount 'kv2' path 'big' property 'k' (token auth): "
        "answered with more than 2 MiB, refused"
    )
