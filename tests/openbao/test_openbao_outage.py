"""Outages: a killed server, a sealed one, a silent one. Each is Unavailable, then recovers."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from secretloom.providers.protocol import NotFound, Unavailable, ValueRef
from secretloom.testing.openbao import OpenBaoServer

from .support import KV2, OpenProvider, assert_untrusted, token_objects, token_store, unique

pytestmark = pytest.mark.openbao


def seed(root: Any, path: str) -> None:
    root.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "v"}, mount_point=KV2)


async def test_killed_server_is_unavailable_and_the_same_client_recovers(
    bao: OpenBaoServer, root: Any, open_provider: OpenProvider
) -> None:
    path = unique("app")
    seed(root, path)
    vault = open_provider(token_store(bao.address), token_objects(bao.root_token))
    ref = ValueRef(path, "k")
    assert await vault.get(ref) == b"v"

    bao.kill()
    with pytest.raises(Unavailable) as down:
        await vault.get(ref)
    assert str(down.value) == (
        f"vault {bao.address} mount 'kv2' path '{path}' property 'k' (token auth): "
        "connection failed"
    )
    with pytest.raises(Unavailable, match="mount check: connection failed"):
        await vault.validate()

    bao.start()  # same port, empty: the seed re-created the mounts, the values are gone
    with pytest.raises(NotFound):
        await vault.get(ref)
    seed(root, path)
    assert await vault.get(ref) == b"v"


async def test_sealed_server_is_unavailable(
    bao: OpenBaoServer, root: Any, open_provider: OpenProvider
) -> None:
    vault = open_provider(token_store(bao.address), token_objects(bao.root_token))
    root.sys.seal()
    try:
        with pytest.raises(Unavailable, match=r": sealed or unavailable \(HTTP 503\)$"):
            await vault.get(ValueRef("app", "k"))
    finally:
        bao.restart()  # a dev server's unseal key dies with it; a restart unseals


async def test_silent_server_times_out(
    open_provider: OpenProvider, caplog: pytest.LogCaptureFixture
) -> None:
    # Connections complete in the listen backlog and then nothing is ever sent back.
    # Never heard from, the server is not trusted as Vault: the tenant's message
    # says so, the operator's log says it timed out.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = f"http://127.0.0.1:{listener.getsockname()[1]}"
        vault = open_provider(token_store(address), token_objects("t"), timeout=0.2)
        with pytest.raises(Unavailable) as failed:
            await vault.get_all(ValueRef("app"))
        assert_untrusted(failed.value, caplog, "did not answer within 0.2s, timed out")
