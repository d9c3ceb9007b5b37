"""Fixtures for the SOPS corpus and render tests: real keys, the real sops."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.render.oracle import Keys, Sops, generated_keys


@pytest.fixture(scope="session")
def keys() -> Iterator[Keys]:
    with generated_keys() as made:
        yield made


@pytest.fixture(scope="session")
def sops(keys: Keys) -> Sops:
    return Sops(keys)
