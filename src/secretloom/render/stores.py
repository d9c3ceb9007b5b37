"""Secret stores for `ref+vault://` and `ref+aws…://` references: a config file, or the cluster.

Offline (`--stores FILE`), a small YAML file maps store names to provider
specs, and names the local sources of the credentials those specs refer to:

    stores:
      default:                     # ref+vault://… without ?store=, and <path:…>
        vault:                     # a VaultProviderSpec, as in a SecretStore
          server: https://vault.example:8200
          path: secret
          auth: {tokenSecretRef: {name: vault-token, key: token}}
      aws:                         # ref+awssecrets://…?store=aws
        awsSecretsManager: {region: eu-west-1, auth: {secretRef: {...}}}
    secrets:                       # what secret references resolve to, offline
      vault-token:
        token: {env: VAULT_TOKEN}  # or {file: /var/run/secrets/vault/token}

With a kubeconfig (`--kubeconfig` or `--in-cluster`), stores are the
SecretStores (secretloom.io/v1alpha1) of the application's namespace, read
through the runtime's client, and their credential references go through the
controller's own pinned reader (`providers/context.py`): Secrets and
ConfigMaps of that namespace only, `kubernetes.io/service-account-token`
Secrets refused (their token is an API credential; the store's author chooses
where it would be sent), the same messages. Unlike the controller, render
mints no ServiceAccount tokens: a store with Kubernetes auth is for the
controller. Either way providers are built through the provider registry,
never by name here, every client is closed after the render, and every
provider gets the operator's egress policy (`--store-servers`,
`SECRETLOOM_STORE_SERVERS`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from secretloom.api.invalid import invalid_fields
from secretloom.api.stores import registry_name
from secretloom.providers import registry as provider_registry
from secretloom.providers.context import kube_error, store_context
from secretloom.providers.egress import EgressPolicy
from secretloom.providers.protocol import Provider, ProviderContext, ProviderError
from secretloom.render.errors import RenderError
from secretloom.runtime.kube import ApiError, KubeClient
from secretloom.runtime.resources import SECRET_STORES

DEFAULT_STORE = "default"
ReadKey = Callable[[str, str], Awaitable[bytes]]


class Stores:
    """Named stores, each built on first use and closed by `close`."""

    def __init__(
        self,
        specs: Callable[[str], Awaitable[tuple[str, Mapping[str, Any]]]],
        ctx: ProviderContext,
        registry: provider_registry.Registry | None = None,  # for tests
    ) -> None:
        self._specs = specs
        self._ctx = ctx
        self._registry = registry or provider_registry.load()
        self._providers: dict[str, asyncio.Task[tuple[Provider, Mapping[str, Any]]]] = {}
        self._kinds: dict[str, str] = {}

    async def get(self, name: str) -> tuple[Provider, Mapping[str, Any]]:
        """The provider for store `name` and its spec (as a plain mapping)."""
        if name not in self._providers:
            self._providers[name] = asyncio.create_task(self._build(name))
        return await self._providers[name]

    async def kind(self, name: str) -> str:
        """The registry name of store `name`'s provider (`vault`, `aws-secretsmanager`)."""
        await self.get(name)
        return self._kinds[name]

    async def _build(self, name: str) -> tuple[Provider, Mapping[str, Any]]:
        block, spec = await self._specs(name)
        kind = self._kinds[name] = registry_name(block)
        try:
            return self._registry.create(kind, spec, self._ctx), spec
        except ProviderError as err:
            raise RenderError(f"store {name!r}: {err}") from None
        except ValidationError as err:  # its own text may echo the spec
            raise RenderError(
                f"store {name!r}: invalid {kind} spec at: {invalid_fields(err)}"
            ) from None
        except ValueError:  # a provider's own check; its text may echo the spec too
            raise RenderError(f"store {name!r}: invalid {kind} spec") from None

    async def close(self) -> None:
        for task in self._providers.values():
            if task.done() and not task.cancelled() and task.exception() is None:
                await task.result()[0].close()


def from_file(path: Path, env: Mapping[str, str], *, egress: EgressPolicy) -> Stores:
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        raise RenderError(f"stores file {path}: cannot be read as YAML") from None
    stores = config.get("stores") or {}

    async def spec(name: str) -> tuple[str, Mapping[str, Any]]:
        entry = stores.get(name)
        if not isinstance(entry, dict) or len(entry) != 1:
            raise RenderError(f"store {name!r} is not defined in the stores file")
        ((kind, body),) = entry.items()
        return str(kind), body

    def reader(section: str) -> ReadKey:
        async def read(name: str, key: str) -> bytes:
            source = ((config.get(section) or {}).get(name) or {}).get(key)
            if isinstance(source, dict) and "env" in source and source["env"] in env:
                return env[source["env"]].encode()
            if isinstance(source, dict) and "file" in source:
                return (await asyncio.to_thread(Path(source["file"]).read_bytes)).strip()
            raise RenderError(
                f"stores file: {section} {name!r} key {key!r} has no available source"
            )

        return read

    ctx = ProviderContext(
        namespace=env.get("ARGOCD_APP_NAMESPACE", "default"),
        read_secret_key=reader("secrets"),
        read_configmap_key=reader("configMaps"),
        egress=egress,
    )
    return Stores(spec, ctx)


def from_cluster(kube: KubeClient, namespace: str, *, egress: EgressPolicy) -> Stores:
    """Stores from the SecretStores of `namespace`, credentials pinned to it."""

    async def spec(name: str) -> tuple[str, Mapping[str, Any]]:
        try:
            store = await kube.get(SECRET_STORES.path(namespace, name))
        except ApiError as err:
            raise RenderError(str(kube_error(err, f"SecretStore {name!r}", namespace))) from None
        provider = (store.get("spec") or {}).get("provider") or {}
        if len(provider) != 1:
            raise RenderError(
                f"SecretStore {namespace}/{name}: spec.provider must name one provider"
            )
        ((kind, body),) = provider.items()
        return str(kind), body

    return Stores(spec, store_context(kube, namespace, tokens=None, egress=egress))
