"""Providers registered by name.

Built-in and third-party providers declare an entry point in the
`secretloom.providers` group whose object is a `ProviderFactory`. A name
registered twice is an error at load time, never a silent override: two
packages fighting over "vault" must be noticed by whoever installed them.

A factory may set `whole_path_reads = True` when its provider's `get` of a
property always equals that property of `get_all` on the same path (Vault,
Secrets Manager): the controller then reads a path once for every
SecretSync naming any of its properties (`controllers/secretsync/shared.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any, Protocol

from secretloom.api.base import Model
from secretloom.providers.protocol import InvalidConfig, Provider, ProviderContext

GROUP = "secretloom.providers"


class ProviderFactory(Protocol):
    """Builds a provider client from its validated spec."""

    name: str
    spec_model: type[Model]

    def create(self, spec: Model, ctx: ProviderContext) -> Provider: ...


class DuplicateProvider(Exception):
    pass


class Registry:
    def __init__(self) -> None:
        self._factories: dict[str, ProviderFactory] = {}

    def register(self, factory: ProviderFactory) -> None:
        if factory.name in self._factories:
            raise DuplicateProvider(f"provider {factory.name!r} is registered twice")
        self._factories[factory.name] = factory

    def names(self) -> list[str]:
        return sorted(self._factories)

    def get(self, name: str) -> ProviderFactory:
        try:
            return self._factories[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise InvalidConfig(f"unknown provider {name!r} (known: {known})") from None

    def create(self, name: str, spec: Mapping[str, Any] | Model, ctx: ProviderContext) -> Provider:
        factory = self.get(name)
        model = (
            spec
            if isinstance(spec, factory.spec_model)
            else factory.spec_model.model_validate(spec)
        )
        return factory.create(model, ctx)


def load(group: str = GROUP) -> Registry:
    """A registry of every provider installed under the entry-point group."""
    registry = Registry()
    for ep in entry_points(group=group):
        registry.register(ep.load())
    return registry
