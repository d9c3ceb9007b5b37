"""Argo CD's health of secretloom objects, on states the real controller produced.

Each test drives the real controller (in-process, real control plane, real
OpenBao where a store must work) into one state, reads the live object back
and asks Argo CD v3.6.1's own code what the Application shows for it: the
health script comes from the argocd-cm snippet as the settings manager reads
it, and runs in Argo CD's restricted Lua VM. A script Argo CD did not load
would answer null, so every expected status also proves the snippet is
wired. The states: never reconciled (no controller), Ready, Conflict,
SourceMissing, ProviderError (a store at a closed loopback port), and a spec
edited while the controller was away (Ready=True, but for an older
generation: a script that ignores observedGeneration would say Healthy).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from secretloom.runtime.kube import KubeClient, Obj
from secretloom.runtime.resources import CLUSTER_SECRET_STORES
from secretloom.testing.cluster import free_port
from secretloom.testing.openbao import OpenBaoServer
from tests.argocd.conftest import ArgoCD
from tests.e2e import kit
from tests.e2e import stores_kit as sk
from tests.openbao.support import unique

TARGET = "app-secret"


@contextlib.asynccontextmanager
async def cluster_store(kube: KubeClient, namespace: str, server: str) -> AsyncIterator[str]:
    """A ClusterSecretStore for `namespace` at `server`, token from that namespace."""
    name = unique("cluster-vault")
    spec = {
        "provider": {"vault": sk.vault(server)},
        "credentialsNamespace": namespace,
        "namespaces": [namespace],
    }
    await sk.apply_cluster_store(kube, name, spec)
    try:
        yield name
    finally:
        await kube.delete(CLUSTER_SECRET_STORES.path(None, name))


def ready_message(obj: Obj) -> str:
    message = kit.condition(obj, "Ready")["message"]
    assert message  # the health message is the condition's, never empty
    return str(message)


async def test_objects_the_controller_never_looked_at_are_progressing(
    kube: KubeClient, namespace: str, argocd: ArgoCD
) -> None:
    spec = sk.sync(TARGET, {"key": sk.from_store("vault", "app", "key")})
    sync = await kit.apply_sync(kube, namespace, "app", spec)
    store = await sk.apply_store(kube, namespace, "vault", sk.vault("http://127.0.0.1:1"))
    async with cluster_store(kube, namespace, "http://127.0.0.1:1") as name:
        cluster = await kube.get(CLUSTER_SECRET_STORES.path(None, name))
        for obj in (sync, store, cluster):
            assert "status" not in obj or not obj["status"].get("conditions")
            assert await argocd.health(obj) == {
                "status": "Progressing",
                "message": f"Waiting for secretloom to reconcile this {obj['kind']}",
            }


async def test_ready_objects_are_healthy_with_the_ready_message(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any, argocd: ArgoCD
) -> None:
    path = unique("app")
    sk.seed(root, path, key="v1")
    async with sk.controller(kube, namespace), cluster_store(kube, namespace, bao.address) as name:
        await sk.put_token(kube, namespace, bao.root_token)
        await sk.apply_store(kube, namespace, "vault", sk.vault(bao.address))
        entries = {
            "a": sk.from_store("vault", path, "key"),
            "b": sk.from_store(name, path, "key", "ClusterSecretStore"),
        }
        await kit.apply_sync(kube, namespace, "app", sk.sync(TARGET, entries))
        sync = await kit.wait_condition(kube, namespace, "app", "Ready")
        store = await sk.wait_store(kube, namespace, "vault")
        cluster = await sk.wait_store(kube, "", name)

        assert ready_message(sync) == f"2 key(s) synced to Secret {TARGET!r}"
        for obj in (sync, store, cluster):
            assert await argocd.health(obj) == {"status": "Healthy", "message": ready_message(obj)}


async def test_a_conflict_is_degraded_naming_the_owner(
    kube: KubeClient, namespace: str, argocd: ArgoCD
) -> None:
    async with kit.controller(kube, namespace):
        await kit.put_secret(kube, namespace, "source", {"token": "mine"}, manager="team")
        await kit.put_secret(kube, namespace, TARGET, {"token": "theirs"}, manager="helm")
        spec = kit.sync_spec(TARGET, {"token": ("source", "token")})
        await kit.apply_sync(kube, namespace, "app", spec)
        sync = await kit.wait_condition(kube, namespace, "app", "Ready", "False")

        assert kit.condition(sync, "Ready")["reason"] == "Conflict"
        assert "helm" in ready_message(sync)
        assert await argocd.health(sync) == {"status": "Degraded", "message": ready_message(sync)}


async def test_a_missing_source_is_degraded_naming_it(
    kube: KubeClient, namespace: str, argocd: ArgoCD
) -> None:
    async with kit.controller(kube, namespace):
        spec = kit.sync_spec(TARGET, {"token": ("not-there", "token")})
        await kit.apply_sync(kube, namespace, "app", spec)
        sync = await kit.wait_condition(kube, namespace, "app", "Ready", "False")

        assert kit.condition(sync, "Ready")["reason"] == "SourceMissing"
        assert "not-there" in ready_message(sync)
        assert await argocd.health(sync) == {"status": "Degraded", "message": ready_message(sync)}


async def test_a_provider_error_is_degraded_for_the_store_and_the_sync(
    kube: KubeClient, namespace: str, argocd: ArgoCD
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    async with sk.controller(kube, namespace):
        await sk.put_token(kube, namespace, "any-token")
        await sk.apply_store(kube, namespace, "vault", sk.vault(closed))
        spec = sk.sync(TARGET, {"key": sk.from_store("vault", "app", "key")})
        await kit.apply_sync(kube, namespace, "app", spec)
        sync = await kit.wait_condition(kube, namespace, "app", "ProviderError")
        store = await sk.wait_store(kube, namespace, "vault", "False")

        assert kit.condition(sync, "Ready")["reason"] == "ProviderError"
        assert kit.condition(store, "Ready")["reason"] == "Unavailable"
        for obj in (sync, store):
            health = await argocd.health(obj)
            assert health == {"status": "Degraded", "message": ready_message(obj)}


async def test_a_spec_edited_while_the_controller_was_away_is_progressing(
    kube: KubeClient, namespace: str, argocd: ArgoCD
) -> None:
    await kit.put_secret(kube, namespace, "source", {"a": "1", "b": "2"}, manager="team")
    async with kit.controller(kube, namespace):
        await kit.apply_sync(kube, namespace, "app", kit.sync_spec(TARGET, {"a": ("source", "a")}))
        await kit.wait_condition(kube, namespace, "app", "Ready")

    both = kit.sync_spec(TARGET, {"a": ("source", "a"), "b": ("source", "b")})
    edited = await kit.apply_sync(kube, namespace, "app", both)
    assert edited["metadata"]["generation"] == 2
    assert kit.condition(edited, "Ready")["status"] == "True"  # for generation 1
    assert await argocd.health(edited) == {
        "status": "Progressing",
        "message": "Waiting for secretloom to reconcile generation 2",
    }

    async with kit.controller(kube, namespace):
        synced = await kit.wait_condition(kube, namespace, "app", "Ready")
        assert await argocd.health(synced) == {
            "status": "Healthy",
            "message": ready_message(synced),
        }


async def test_argo_cd_offers_no_health_for_a_kind_the_snippet_does_not_name(
    kube: KubeClient, namespace: str, argocd: ArgoCD
) -> None:
    """The control: without a script Argo CD has no verdict, so the others are the snippet's."""
    store = await sk.apply_store(kube, namespace, "vault", sk.vault("http://127.0.0.1:1"))
    assert await argocd.health(store) is not None
    assert await argocd.health({**store, "kind": "SecretThing"}) is None
