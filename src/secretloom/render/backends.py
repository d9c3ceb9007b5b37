"""Resolving references: one small backend per scheme, fetched concurrently.

* `env`: a variable of the plugin's environment, but only `ARGOCD_ENV_*`,
  `ARGOCD_APP_*` and names the operator allowed: the sidecar's environment
  also holds its own credentials, which an app must not be able to print.
* `file`: a file of the app directory (confined); with a pointer, parsed
  as YAML/JSON.
* `sops`: a SOPS file of the app directory, decrypted in memory.
* `vault`: a KV path through a configured store (`stores`), `#/property`.
* `awssecrets`, `awsssm` (issue 16): a Secrets Manager secret or a Parameter
  Store parameter through a configured store of that provider, as vals names
  them (`ref+awsssm://app/db` is `/app/db`); `#/…` follows a JSON value.
* `k8s`: `ref+k8s://v1/Secret/<namespace>/<name>/<key>`, only in allowed
  namespaces (default: the app's own), read through the same pinned reader
  the controller gives stores (`providers/context.py`), so a
  `kubernetes.io/service-account-token` Secret is refused here too.

Every distinct fetch happens once (a vault path read once for all its
properties, a SOPS file decrypted once), with bounded concurrency. Errors
name the reference (`Ref.display`), never a value.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secretloom.api.vault import VaultProviderSpec
from secretloom.providers.context import store_context
from secretloom.providers.protocol import ProviderError, ValueRef
from secretloom.render import app, paths
from secretloom.render.errors import RenderError
from secretloom.render.refs import Ref
from secretloom.render.stores import DEFAULT_STORE, Stores
from secretloom.runtime.kube import KubeClient
from secretloom.sops import (
    KeySources,
    LimitError,
    SopsError,
    decrypt_file,
    holds_encrypted_values,
    load_yaml,
    loads_json,
    to_plain,
)

_CONCURRENCY = 32
_AWS_PROVIDERS = {"awssecrets": "aws-secretsmanager", "awsssm": "aws-parameterstore"}
ENV_PREFIXES = ("ARGOCD_ENV_", "ARGOCD_APP_")


@dataclass(frozen=True)
class Context:
    """What backends may use; every widening of access is the operator's choice."""

    app_dir: Path
    env: Mapping[str, str] = field(repr=False)
    keys: KeySources
    allowed_env: frozenset[str] = frozenset()
    allowed_namespaces: frozenset[str] = frozenset()
    stores: Stores | None = None
    kube: KubeClient | None = None  # when the operator gave a kubeconfig or --in-cluster


class Resolver:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._fetches: dict[object, asyncio.Task[Any]] = {}
        self._limit = asyncio.Semaphore(_CONCURRENCY)
        self._backends: dict[str, Callable[[Ref], Awaitable[Any]]] = {
            "env": self._env,
            "file": self._file,
            "sops": self._sops,
            "vault": self._vault,
            "k8s": self._k8s,
            "awssecrets": self._aws,
            "awsssm": self._aws,
        }

    async def resolve(self, refs: Iterable[Ref]) -> dict[Ref, Any]:
        unique = list(dict.fromkeys(refs))
        # Wait for all, then report the first failure: no task is left failing unobserved.
        values = await asyncio.gather(
            *(self._backends[r.backend](r) for r in unique), return_exceptions=True
        )
        for value in values:
            if isinstance(value, BaseException):
                raise value
        return dict(zip(unique, values, strict=True))

    def _once(self, key: object, fetch: Callable[[], Awaitable[Any]]) -> asyncio.Task[Any]:
        """One task per distinct fetch, shared by every reference that needs it."""
        if key not in self._fetches:

            async def limited() -> Any:
                async with self._limit:
                    return await fetch()

            self._fetches[key] = asyncio.ensure_future(limited())
        return self._fetches[key]

    async def _env(self, ref: Ref) -> Any:
        name = ref.path
        if not (name.startswith(ENV_PREFIXES) or name in self._ctx.allowed_env):
            raise RenderError(
                f"{ref.display}: variable not allowed (ARGOCD_ENV_*, ARGOCD_APP_*, --allow-env)"
            )
        if name not in self._ctx.env:
            raise RenderError(f"{ref.display}: variable is not set")
        return follow(self._ctx.env[name], ref)

    async def _file(self, ref: Ref) -> Any:
        path = paths.confine(self._ctx.app_dir, ref.path, what=ref.display)
        try:
            data = app.read(path, name=ref.display)
        except OSError:
            raise RenderError(f"{ref.display}: cannot read the file") from None
        text = app.text(data, name=ref.display)
        if holds_encrypted_values(text):  # fail closed: ciphertext is never a value
            raise RenderError(
                f"{ref.display}: SOPS-encrypted values (ENC[...]) in a plain file "
                "(read a SOPS file with ref+sops://, which verifies it)"
            )
        if not ref.pointer:
            return text
        return follow(parse_data(text, path, ref), ref)

    async def _sops(self, ref: Ref) -> Any:
        path = paths.confine(self._ctx.app_dir, ref.path, what=ref.display)
        name = paths.display(self._ctx.app_dir, path)
        document = await self._once(
            ("sops", path), lambda: asyncio.to_thread(self._decrypt, path, name)
        )
        return follow(document, ref)

    def _decrypt(self, path: Path, name: str) -> Any:
        if not path.is_file():
            raise RenderError(f"sops file {name}: not found")
        try:
            return decrypt_file(path, self._ctx.keys, name=name).data()
        except SopsError as err:
            raise RenderError(str(err)) from None

    async def _vault(self, ref: Ref) -> Any:
        if self._ctx.stores is None:
            raise RenderError(
                f"{ref.display}: no secret store configured (--stores or --kubeconfig)"
            )
        store = ref.param("store") or DEFAULT_STORE
        provider, spec = await self._ctx.stores.get(store)
        value_ref = _vault_value_ref(ref, VaultProviderSpec.model_validate(spec))
        try:
            data = await self._once(
                ("vault", store, value_ref), lambda: provider.get_all(value_ref)
            )
        except ProviderError as err:
            raise RenderError(f"{ref.display}: {err}") from None
        if not ref.pointer:
            raise RenderError(f"{ref.display}: name a property with #/<property>")
        head, *rest = ref.pointer
        if head not in data:
            raise RenderError(f"{ref.display}: property {head!r} not found")
        raw = data[head].decode("utf-8", "surrogateescape")
        return follow(json.loads(raw), ref, rest) if rest else raw

    async def _aws(self, ref: Ref) -> Any:
        """A Secrets Manager secret or a parameter, as vals reads them; `#/…` into its JSON."""
        if self._ctx.stores is None:
            raise RenderError(
                f"{ref.display}: no secret store configured (--stores or --kubeconfig)"
            )
        store = ref.param("store") or DEFAULT_STORE
        wanted = _AWS_PROVIDERS[ref.backend]
        provider, _ = await self._ctx.stores.get(store)
        if await self._ctx.stores.kind(store) != wanted:
            raise RenderError(f"{ref.display}: store {store!r} is not an {wanted} store")
        version = ref.param("version")
        if version is not None and not version.isdigit():
            raise RenderError(f"{ref.display}: version must be a number")
        value_ref = ValueRef(
            # vals: `ref+awsssm://app/db` is the parameter `/app/db`
            ref.path if ref.backend == "awssecrets" else "/" + ref.path.lstrip("/"),
            None,
            None if version is None else int(version),
            ref.param("version_stage"),
            ref.param("version_id"),
        )
        try:
            raw = await self._once(("aws", store, value_ref), lambda: provider.get(value_ref))
        except ProviderError as err:
            raise RenderError(f"{ref.display}: {err}") from None
        text = raw.decode("utf-8", "surrogateescape")
        if not ref.pointer:
            return text
        try:
            document = json.loads(text)
        except ValueError:
            raise RenderError(f"{ref.display}: the value is not JSON, it has no keys") from None
        return follow(document, ref)

    async def _k8s(self, ref: Ref) -> Any:
        parts = ref.path.split("/")
        if len(parts) != 5 or parts[:2] != ["v1", "Secret"]:
            raise RenderError(
                f"{ref.display}: expected ref+k8s://v1/Secret/<namespace>/<name>/<key>"
            )
        _, _, namespace, name, key = parts
        if namespace not in self._ctx.allowed_namespaces:
            raise RenderError(f"{ref.display}: namespace {namespace!r} is not allowed")
        if self._ctx.kube is None:
            raise RenderError(f"{ref.display}: k8s references need --kubeconfig or --in-cluster")
        value = await self._once(
            ("k8s", namespace, name, key), lambda: self._read_secret(ref, namespace, name, key)
        )
        return follow(value, ref)

    async def _read_secret(self, ref: Ref, namespace: str, name: str, key: str) -> str:
        assert self._ctx.kube is not None  # checked by the caller
        reader = store_context(self._ctx.kube, namespace, tokens=None)
        try:
            value = await reader.read_secret_key(name, key)
        except ProviderError as err:
            raise RenderError(f"{ref.display}: {err}") from None
        return value.decode("utf-8", "surrogateescape")


def _vault_value_ref(ref: Ref, spec: VaultProviderSpec) -> ValueRef:
    """A reference's path made relative to the store's mount, as providers take it."""
    mount, _, below = ref.path.strip("/").partition("/")
    if mount != spec.path or not below:
        raise RenderError(
            f"{ref.display}: the path must start with the store's mount {spec.path!r}/"
        )
    if ref.avp and spec.version == "v2":
        data, _, below = below.partition("/")
        if data != "data" or not below:
            raise RenderError(f"{ref.display}: a KV v2 path is <mount>/data/<path>")
    version = ref.param("version")
    if version is not None and not version.isdigit():
        raise RenderError(f"{ref.display}: version must be a number")
    return ValueRef(below, None, int(version) if version else None)


def parse_data(text: str, path: Path, ref: Ref) -> Any:
    """The first document of a YAML or JSON file, parsed within `limits`."""
    try:
        if path.suffix == ".json":
            return loads_json(text)
        documents = load_yaml(text)
    except LimitError as err:
        raise RenderError(f"{ref.display}: {err}") from None
    except SopsError:
        raise RenderError(f"{ref.display}: the file is not valid YAML or JSON") from None
    return to_plain(documents[0]) if documents else {}


def follow(value: Any, ref: Ref, pointer: Iterable[str] | None = None) -> Any:
    """The part of `value` a JSON pointer names."""
    for part in ref.pointer if pointer is None else pointer:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise RenderError(f"{ref.display}: key {part!r} not found")
    return value
