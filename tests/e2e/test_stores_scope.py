"""Who may use which store: ClusterSecretStore allow lists, namespaced SecretStores, admission.

A ClusterSecretStore serves the namespaces it lists or selects by label, and
refuses every other one with a condition, never a read; its credentials are
read only from its `credentialsNamespace`. A SecretStore serves its own
namespace only. Bad store specs are refused at admission by the CRD schema.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from secretloom.runtime.kube import ApiError, KubeClient
from secretloom.runtime.resources import CLUSTER_SECRET_STORES, NAMESPACES, SECRET_STORES
from secretloom.testing.openbao import OpenBaoServer
from tests.e2e import kit
from tests.e2e import stores_kit as sk
from tests.e2e.test_controller_process import extra_namespaces
from tests.openbao.support import unique

TARGET = "app-secret"


@asynccontextmanager
async def cluster_store(kube: KubeClient, name: str, spec: dict[str, Any]) -> AsyncIterator[None]:
    await sk.apply_cluster_store(kube, name, spec)
    try:
        yield
    finally:
        await kube.delete(CLUSTER_SECRET_STORES.path(None, name))


async def test_a_cluster_store_serves_listed_and_selected_namespaces_and_refuses_others(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any
) -> None:
    path, store = unique("shared"), unique("shared")
    sk.seed(root, path, key="shared-value")
    spec = {
        "provider": {"vault": sk.vault(bao.address)},
        "credentialsNamespace": namespace,  # the only place the token lives
        "namespaces": [],
        "namespaceSelector": {"matchLabels": {"vault-access": "granted"}},
    }
    sync = sk.sync(TARGET, {"key": sk.from_store(store, path, "key", "ClusterSecretStore")})
    async with extra_namespaces(kube, 3) as (listed, labelled, other):
        spec["namespaces"] = [listed]
        await kube.merge_patch(
            NAMESPACES.path(name=labelled), {"metadata": {"labels": {"vault-access": "granted"}}}
        )
        async with sk.controller(kube, listed, labelled, other), cluster_store(kube, store, spec):
            await sk.put_token(kube, namespace, bao.root_token)
            for ns in (listed, labelled, other):
                await kit.apply_sync(kube, ns, "app", sync)
            for ns in (listed, labelled):
                await kit.wait_condition(kube, ns, "app", "Ready")
                assert kit.values(await kit.get_secret(kube, ns, TARGET)) == {"key": "shared-value"}
            refused = await kit.wait_condition(
                kube, other, "app", "Ready", "False", reason="NamespaceNotAllowed"
            )
            ready = kit.condition(refused, "Ready")
            assert ready["message"] == (
                f"entry 'key': ClusterSecretStore {store!r} does not allow namespace {other!r} "
                "(its spec.namespaces and spec.namespaceSelector decide)"
            )
            assert await kit.get_secret(kube, other, TARGET) is None
            await sk.wait_store(kube, "", store)

            # Granting the namespace is enough: nobody touches the SecretSync.
            await kube.merge_patch(
                NAMESPACES.path(name=other), {"metadata": {"labels": {"vault-access": "granted"}}}
            )
            await kit.wait_condition(kube, other, "app", "Ready")
            assert kit.values(await kit.get_secret(kube, other, TARGET)) == {"key": "shared-value"}


async def test_a_secret_store_cannot_be_used_from_another_namespace(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any
) -> None:
    path = unique("app")
    sk.seed(root, path, key="v")
    async with extra_namespaces(kube, 1) as (elsewhere,), sk.controller(kube, namespace, elsewhere):
        await sk.put_token(kube, namespace, bao.root_token)
        await sk.apply_store(kube, namespace, "vault", sk.vault(bao.address))
        await sk.wait_store(kube, namespace, "vault")
        reads = sk.audited_reads(bao, path)

        by_name = sk.sync(TARGET, {"key": sk.from_store("vault", path, "key")})
        await kit.apply_sync(kube, elsewhere, "by-name", by_name)
        missing = await kit.wait_condition(
            kube, elsewhere, "by-name", "Ready", "False", reason="StoreNotFound"
        )
        assert kit.condition(missing, "Ready")["message"] == (
            f"entry 'key': SecretStore 'vault' not found in namespace {elsewhere!r}"
        )

        source = sk.from_store("vault", path, "key")
        source["store"]["namespace"] = namespace
        await kit.apply_sync(kube, elsewhere, "explicit", sk.sync(TARGET, {"key": source}))
        refused = await kit.wait_condition(
            kube, elsewhere, "explicit", "Ready", "False", reason="InvalidReference"
        )
        assert namespace in kit.condition(refused, "Ready")["message"]

        assert await kit.get_secret(kube, elsewhere, TARGET) is None
        assert sk.audited_reads(bao, path) == reads  # refused before any provider call


@pytest.mark.parametrize(
    ("kind", "spec", "expected"),
    [
        ("SecretStore", {"provider": {}}, "set exactly one provider"),
        (
            "ClusterSecretStore",
            {
                "provider": {"vault": sk.vault("https://vault.example")},
                "credentialsNamespace": "vault",
            },
            "set namespaces and/or namespaceSelector",
        ),
        (
            "ClusterSecretStore",
            {"provider": {"vault": sk.vault("https://vault.example")}, "namespaces": ["a"]},
            "credentialsNamespace",
        ),
    ],
)
async def test_admission_refuses_bad_store_specs(
    kube: KubeClient, namespace: str, kind: str, spec: dict[str, Any], expected: str
) -> None:
    body = {
        "apiVersion": "secretloom.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "bad"},
        "spec": json.loads(json.dumps(spec)),
    }
    path = (
        SECRET_STORES.path(namespace, "bad")
        if kind == "SecretStore"
        else CLUSTER_SECRET_STORES.path(None, "bad")
    )
    with pytest.raises(ApiError) as refused:
        await kube.apply(path, body, field_manager="kubectl")
    assert refused.value.status == 422
    assert expected in refused.value.message


async def test_admission_refuses_a_bad_refresh_interval(kube: KubeClient, namespace: str) -> None:
    spec = sk.sync(TARGET, {"key": sk.from_store("vault", "app", "key")}, refresh="5 minutes")
    with pytest.raises(ApiError) as refused:
        await kit.apply_sync(kube, namespace, "bad", spec)
    assert refused.value.status == 422
    assert "spec.refreshInterval" in refused.value.message
