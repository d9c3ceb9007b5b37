"""One OpenBao dev server (and one TLS server) per session, always stopped.

The servers start lazily, stop in teardown on failure or Ctrl-C, and die with
a killed test run (`die_with_parent`). A test that stops or kills a server
leaves it down only until the next test asks for it: `bao` and `bao_tls`
restart it (empty, then seeded with the KV mounts) when needed.

The root token is a canary: the canary test proves it never appears in an
error or a log line.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from secretloom.api.vault import VaultProviderSpec
from secretloom.providers.vault import VaultProvider
from secretloom.testing.openbao import OpenBaoServer
from secretloom.testing.postgres import PostgresServer

from .support import Objects, OpenProvider, enable_kv_mounts

ROOT_TOKEN_CANARY = f"canary-root-{secrets.token_hex(8)}"


def _session_server(tmp_path_factory: pytest.TempPathFactory, tls: bool) -> Iterator[OpenBaoServer]:
    with OpenBaoServer(
        tls=tls,
        root_token=ROOT_TOKEN_CANARY,
        work_dir=tmp_path_factory.mktemp("openbao-tls" if tls else "openbao"),
        seed=enable_kv_mounts,
        die_with_parent=True,
    ) as server:
        yield server


@pytest.fixture(scope="session")
def bao_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    yield from _session_server(tmp_path_factory, tls=False)


@pytest.fixture(scope="session")
def bao_tls_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    yield from _session_server(tmp_path_factory, tls=True)


def _up(server: OpenBaoServer) -> OpenBaoServer:
    if not server.running:
        server.start()
    return server


@pytest.fixture
def bao(bao_session: OpenBaoServer) -> OpenBaoServer:
    """The plain-HTTP server, running."""
    return _up(bao_session)


@pytest.fixture
def bao_tls(bao_tls_session: OpenBaoServer) -> OpenBaoServer:
    """The TLS server, running; its CA changes whenever it restarts."""
    return _up(bao_tls_session)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL for the database engine (dynamic secrets, issue 14), started lazily."""
    with PostgresServer(die_with_parent=True) as server:
        yield server


@pytest.fixture
def root(bao: OpenBaoServer) -> Any:
    """An hvac client with the root token, for seeding."""
    return bao.client()


@pytest.fixture
async def open_provider() -> AsyncIterator[OpenProvider]:
    opened: list[VaultProvider] = []

    def open_(spec: VaultProviderSpec, objects: Objects, **kwargs: Any) -> VaultProvider:
        provider = VaultProvider(spec, objects.context(), **kwargs)
        opened.append(provider)
        return provider

    yield open_
    for provider in opened:
        await provider.close()
