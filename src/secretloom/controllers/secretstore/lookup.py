"""From a store reference to a usable store, read from the informer caches.

`StoreLookup.find` is the only way a SecretSync reaches a store, so the
scoping rule lives here once (see `secretloom.api.stores`):

* a SecretStore is looked up in the SecretSync's own namespace; a reference
  naming any other namespace is refused before any lookup;
* a ClusterSecretStore must allow the SecretSync's namespace (`scope`);
* the handle carries the namespace credential reads are pinned to: the
  SecretStore's own, or the ClusterSecretStore's `credentialsNamespace`.

Failures are `StoreProblem`s with a CamelCase reason and a message safe for a
status condition (pydantic's error text is never used: it can echo input).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from secretloom.api import stores as store_api
from secretloom.api.base import Model
from secretloom.api.invalid import invalid_fields
from secretloom.api.secretsync import StoreRef
from secretloom.controllers.secretstore import scope
from secretloom.runtime.cache import Cache
from secretloom.runtime.kube import Obj

StoreKey = tuple[str, str, str]  # (kind, namespace, name); namespace "" for a ClusterSecretStore


class StoreProblem(Exception):
    """A store cannot be used; `reason` is CamelCase, `message` is safe for status."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class StoreHandle:
    kind: str
    namespace: str
    name: str
    uid: str
    generation: int
    provider: str
    spec: Model
    credentials_namespace: str

    @property
    def key(self) -> StoreKey:
        return (self.kind, self.namespace, self.name)

    @property
    def fingerprint(self) -> tuple[str, int]:
        """Changes whenever the spec does: a pooled client for an older one is replaced."""
        return (self.uid, self.generation)

    def describe(self) -> str:
        return f"{self.kind.lower()}/{self.name}"


def store_key(kind: str, obj: Obj) -> StoreKey:
    meta = obj["metadata"]
    return (kind, meta.get("namespace", ""), meta["name"])


def parse(
    kind: str, obj: Obj
) -> tuple[StoreHandle, store_api.SecretStoreSpec | store_api.ClusterSecretStoreSpec]:
    """The handle and parsed spec of a store object; `StoreProblem` if the spec is invalid."""
    meta = obj["metadata"]
    model = (
        store_api.ClusterSecretStoreSpec
        if kind == store_api.CLUSTER_STORE_KIND
        else store_api.SecretStoreSpec
    )
    try:
        spec = model.model_validate(obj.get("spec") or {})
    except ValidationError as err:
        raise StoreProblem(
            "InvalidSpec", f"{kind} {meta['name']!r} has an invalid spec at: {invalid_fields(err)}"
        ) from None
    provider, provider_spec = spec.provider.selected()
    credentials = (
        spec.credentials_namespace
        if isinstance(spec, store_api.ClusterSecretStoreSpec)
        else meta.get("namespace", "")
    )
    handle = StoreHandle(
        kind=kind,
        namespace=meta.get("namespace", ""),
        name=meta["name"],
        uid=meta.get("uid", ""),
        generation=int(meta.get("generation") or 0),
        provider=provider,
        spec=provider_spec,
        credentials_namespace=credentials,
    )
    return handle, spec


class StoreLookup:
    def __init__(
        self, stores: Cache, cluster_stores: Cache | None, namespaces: Cache | None
    ) -> None:
        self._stores = stores
        self._cluster_stores = cluster_stores
        self._namespaces = namespaces

    def find(self, ref: StoreRef, namespace: str) -> StoreHandle:
        """The store `ref` names, for a SecretSync in `namespace`."""
        if ref.kind == store_api.STORE_KIND:
            return self._namespaced(ref, namespace)
        return self._cluster(ref, namespace)

    def _namespaced(self, ref: StoreRef, namespace: str) -> StoreHandle:
        if ref.namespace and ref.namespace != namespace:
            raise StoreProblem(
                "InvalidReference",
                f"store.namespace {ref.namespace!r} is not allowed: a SecretStore is used only "
                f"from its own namespace ({namespace!r})",
            )
        obj = self._stores.get((namespace, ref.name))
        if obj is None:
            raise StoreProblem(
                "StoreNotFound", f"SecretStore {ref.name!r} not found in namespace {namespace!r}"
            )
        return parse(store_api.STORE_KIND, obj)[0]

    def _cluster(self, ref: StoreRef, namespace: str) -> StoreHandle:
        if ref.namespace:
            raise StoreProblem(
                "InvalidReference", "store.namespace must be empty for a ClusterSecretStore"
            )
        if self._cluster_stores is None:
            raise StoreProblem(
                "InvalidReference",
                "this controller does not watch ClusterSecretStores (namespaced mode); "
                "use a SecretStore",
            )
        obj = self._cluster_stores.get(("", ref.name))
        if obj is None:
            raise StoreProblem("StoreNotFound", f"ClusterSecretStore {ref.name!r} not found")
        handle, spec = parse(store_api.CLUSTER_STORE_KIND, obj)
        assert isinstance(spec, store_api.ClusterSecretStoreSpec)
        refused = scope.refusal(spec, ref.name, namespace, self._labels(namespace))
        if refused is not None:
            raise StoreProblem("NamespaceNotAllowed", refused)
        return handle

    def _labels(self, namespace: str) -> Mapping[str, str] | None:
        if self._namespaces is None:
            return None
        obj = self._namespaces.get(("", namespace))
        return None if obj is None else dict(obj["metadata"].get("labels") or {})
