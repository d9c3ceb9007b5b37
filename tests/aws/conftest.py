"""One real moto server per session (AWS's API on loopback), always stopped.

It starts lazily, stops in teardown on failure or Ctrl-C, dies with a killed
test run, and comes back (empty) when a test stopped it. The static keys the
stores use are canaries: the canary tests prove they never appear in an error,
a log line, a status or an Event.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from secretloom.providers.protocol import Provider
from secretloom.testing.moto import MotoServer
from tests.openbao.support import Objects

from .support import KEY_ID_CANARY, SECRET_KEY_CANARY, OpenAWS, keys_objects, spec

__all__ = ["KEY_ID_CANARY", "SECRET_KEY_CANARY"]


@pytest.fixture(scope="session")
def moto_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with MotoServer(work_dir=tmp_path_factory.mktemp("moto"), die_with_parent=True) as server:
        yield server


@pytest.fixture
def moto(moto_session: MotoServer) -> MotoServer:
    """The emulator, running."""
    if not moto_session.running:
        moto_session.start()
    return moto_session


@pytest.fixture
def sm(moto: MotoServer) -> Any:
    """A Secrets Manager client for seeding."""
    return moto.client("secretsmanager")


@pytest.fixture
def ssm(moto: MotoServer) -> Any:
    """A Parameter Store client for seeding."""
    return moto.client("ssm")


@pytest.fixture
async def open_aws() -> AsyncIterator[OpenAWS]:
    opened: list[Provider] = []

    def open_(
        cls: Callable[..., Provider],
        server: MotoServer,
        objects: Objects | None = None,
        **kwargs: Any,
    ) -> Provider:
        fields = kwargs.pop("fields", {})
        provider = cls(spec(server, **fields), (objects or keys_objects()).context(), **kwargs)
        opened.append(provider)
        return provider

    yield open_
    for provider in opened:
        await provider.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"
