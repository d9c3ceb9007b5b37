"""SecretSyncs reading Vault paths through SecretStores: real OpenBao, real control plane.

The Argo CD Notifications case without intermediate Secrets: two Vault paths
and one Kubernetes Secret compose `argocd-notifications-secret`, each key owned
by its own field manager; then rotation, the refresh annotation, zero writes
at rest, dataFrom, version pins, KV v1 and TLS with a CA from a ConfigMap.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from secretloom.api.secretsync import REFRESH_ANNOTATION
from secretloom.runtime import metrics
from secretloom.runtime.kube import KubeClient
from secretloom.runtime.resources import CONFIGMAPS, SECRET_SYNCS
from secretloom.testing.openbao import OpenBaoServer
from tests.e2e import kit
from tests.e2e import stores_kit as sk
from tests.openbao.support import KV1, KV2, make_token, read_policy, unique, write_policy

TARGET = "argocd-notifications-secret"


def token_for(root: Any, *paths: str) -> str:
    return make_token(root, write_policy(root, read_policy(*paths)))


def vault_calls() -> float:
    return (
        metrics.REGISTRY.get_sample_value(
            "secretloom_provider_calls_total", {"provider": "vault", "outcome": "success"}
        )
        or 0.0
    )


async def test_two_vault_paths_and_a_kubernetes_secret_compose_one_target(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any
) -> None:
    grafana, gitlab = unique("argocd/grafana"), unique("argocd/gitlab")
    sk.seed(root, grafana, **{"api-key": "gf-1"})
    sk.seed(root, gitlab, token="gl-1")
    token = token_for(root, f"{KV2}/data/{grafana}", f"{KV2}/data/{gitlab}")
    async with sk.controller(kube, namespace):
        await kit.put_secret(kube, namespace, TARGET, {}, manager="helm")
        await kit.put_secret(kube, namespace, "slack", {"slack-token": "sl-1"}, manager="chat")
        await sk.put_token(kube, namespace, token)
        await sk.apply_store(kube, namespace, "vault", sk.vault(bao.address))
        syncs = {
            "grafana-token": ("grafana-api-key", sk.from_store("vault", grafana, "api-key")),
            "gitlab-token": ("gitlab-token", sk.from_store("vault", gitlab, "token")),
            "slack-token": ("slack-token", {"secret": "slack", "key": "slack-token"}),
        }
        for name, (key, source) in syncs.items():
            await kit.apply_sync(kube, namespace, name, sk.sync(TARGET, {key: source}))
        for name in syncs:
            await kit.wait_condition(kube, namespace, name, "Ready")

        target = await kit.get_secret(kube, namespace, TARGET)
        assert target is not None
        assert kit.values(target) == {
            "grafana-api-key": "gf-1",
            "gitlab-token": "gl-1",
            "slack-token": "sl-1",
        }
        assert kit.owners(target) == {
            "helm": set(),
            **{f"secretloom/{namespace}/{name}": {key} for name, (key, _) in syncs.items()},
        }
        store = await sk.wait_store(kube, namespace, "vault")
        assert store["status"]["provider"] == "vault"
        status = (await kit.get_sync(kube, namespace, "grafana-token"))["status"]
        assert status["keys"][0]["source"] == f"secretstore/vault:{grafana}#api-key"
        assert status["lastRefreshTime"] and status["nextRefreshTime"] >= status["lastRefreshTime"]
        assert kit.condition({"status": status}, "ProviderError")["status"] == "False"
        slack = (await kit.get_sync(kube, namespace, "slack-token"))["status"]
        assert "lastRefreshTime" not in slack  # Kubernetes sources are watched, never polled
        assert "ProviderError" not in {c["type"] for c in slack["conditions"]}


async def test_rotation_lands_within_the_interval_and_unchanged_values_write_nothing(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any
) -> None:
    path = unique("app")
    sk.seed(root, path, key="v1")
    spec = sk.sync(TARGET, {"key": sk.from_store("vault", path, "key")}, refresh="1s")
    async with sk.controller(kube, namespace):
        await sk.put_token(kube, namespace, token_for(root, f"{KV2}/data/{path}"))
        await sk.apply_store(kube, namespace, "vault", sk.vault(bao.address))
        await kit.apply_sync(kube, namespace, "app", spec)
        await kit.wait_condition(kube, namespace, "app", "Ready")
        async with kit.TargetWatch(kube, namespace, TARGET) as watch:
            polls = vault_calls()
            await asyncio.sleep(3.5)  # three refresh intervals, nothing changed
            assert watch.writes == []
            assert vault_calls() - polls >= 2  # it did poll, and wrote nothing

            sk.seed(root, path, key="v2")
            rotated = time.monotonic()

            async def landed() -> bool:
                return bool(watch.writes) and kit.values(watch.writes[-1]) == {"key": "v2"}

            await kit.eventually(landed, timeout=1.0 + 2.0)  # the interval, plus a margin
            assert time.monotonic() - rotated < 3.0
            await asyncio.sleep(1.5)
            assert len(watch.writes) == 1


async def test_the_refresh_annotation_reads_the_store_now(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any
) -> None:
    path = unique("app")
    sk.seed(root, path, key="v1")
    async with sk.controller(kube, namespace):
        await sk.put_token(kube, namespace, token_for(root, f"{KV2}/data/{path}"))
        await sk.apply_store(kube, namespace, "vault", sk.vault(bao.address))
        spec = sk.sync(TARGET, {"key": sk.from_store("vault", path, "key")}, refresh="1h")
        await kit.apply_sync(kube, namespace, "app", spec)
        await kit.wait_condition(kube, namespace, "app", "Ready")
        sk.seed(root, path, key="v2")
        await asyncio.sleep(1.0)
        assert kit.values(await kit.get_secret(kube, namespace, TARGET)) == {"key": "v1"}

        annotations = {"metadata": {"annotations": {REFRESH_ANNOTATION: "now-1"}}}
        await kube.merge_patch(SECRET_SYNCS.path(namespace, "app"), annotations)

        async def refreshed() -> bool:
            return kit.values(await kit.get_secret(kube, namespace, TARGET)) == {"key": "v2"}

        await kit.eventually(refreshed, timeout=5)

        async def recorded() -> bool:  # the status follows the write that the poll enabled
            status = (await kit.get_sync(kube, namespace, "app"))["status"]
            return bool(status.get("refreshRequest"))

        await kit.eventually(recorded, timeout=5)
        status = (await kit.get_sync(kube, namespace, "app"))["status"]
        assert "now-1" not in status["refreshRequest"]


async def test_one_sync_takes_entries_from_two_stores_and_kubernetes_each_with_its_state(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any
) -> None:
    v2_path, v1_path, pinned = unique("app"), unique("legacy"), unique("pinned")
    sk.seed(root, v2_path, a="from-v2", b="b-1", **{"not a key": "x"})
    root.secrets.kv.v1.create_or_update_secret(
        path=v1_path, secret={"old": "from-v1"}, mount_point=KV1
    )
    sk.seed(root, pinned, key="first")
    sk.seed(root, pinned, key="second")
    token = token_for(root, f"{KV2}/data/*", f"{KV1}/*")
    entries = {
        "a": sk.from_store("vault", v2_path, "a"),
        "old": sk.from_store("legacy", v1_path, "old"),
        "pinned": sk.from_store("vault", pinned, "key", version=1),
        "local": {"secret": "local", "key": "k"},
        "absent": sk.from_store("vault", v2_path, "no-such-property"),
        "p-a": sk.from_store("vault", pinned, "key"),  # data wins over dataFrom's p-a
    }
    spec = sk.sync(
        TARGET,
        entries,
        dataFrom=[{"store": {"name": "vault"}, "path": v2_path, "prefix": "p-"}],
    )
    async with sk.controller(kube, namespace):
        await kit.put_secret(kube, namespace, "local", {"k": "from-kubernetes"}, manager="team")
        await sk.put_token(kube, namespace, token)
        await sk.apply_store(kube, namespace, "vault", sk.vault(bao.address))
        await sk.apply_store(
            kube, namespace, "legacy", sk.vault(bao.address, path=KV1, version="v1")
        )
        await kit.apply_sync(kube, namespace, "mixed", spec)
        synced = await kit.wait_condition(kube, namespace, "mixed", "SourceMissing")

        assert kit.values(await kit.get_secret(kube, namespace, TARGET)) == {
            "a": "from-v2",
            "old": "from-v1",
            "pinned": "first",
            "local": "from-kubernetes",
            "p-a": "second",
            "p-b": "b-1",
        }
        states = {k["key"]: (k["state"], k["source"]) for k in synced["status"]["keys"]}
        assert states == {
            "a": ("Synced", f"secretstore/vault:{v2_path}#a"),
            "old": ("Synced", f"secretstore/legacy:{v1_path}#old"),
            "pinned": ("Synced", f"secretstore/vault:{pinned}#key"),
            "local": ("Synced", "secret/local#k"),
            "absent": ("SourceMissing", f"secretstore/vault:{v2_path}#no-such-property"),
            "p-a": ("Synced", f"secretstore/vault:{pinned}#key"),
            "p-b": ("Synced", f"secretstore/vault:{v2_path}#*"),
        }
        (data_from,) = synced["status"]["dataFrom"]
        assert data_from["state"] == "Error"  # one property is not a valid key
        assert "'not a key'" in data_from["message"]
        assert data_from["keyCount"] == 1  # p-a was taken by spec.data
        absent = next(k for k in synced["status"]["keys"] if k["key"] == "absent")
        assert "property not found" in absent["message"]
        assert kit.condition(synced, "ProviderError")["status"] == "False"


async def test_tls_with_the_ca_from_a_configmap_of_the_namespace(
    kube: KubeClient, namespace: str, bao_tls: OpenBaoServer
) -> None:
    path = unique("app")
    tls_root = bao_tls.client()
    sk.seed(tls_root, path, key="over-tls")
    token = token_for(tls_root, f"{KV2}/data/{path}")
    async with sk.controller(kube, namespace):
        await kube.apply(
            CONFIGMAPS.path(namespace, "vault-ca"),
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "vault-ca", "namespace": namespace},
                "data": {"ca.crt": bao_tls.ca_pem.decode()},
            },
            field_manager="platform",
        )
        await sk.put_token(kube, namespace, token)
        ca = {"type": "ConfigMap", "name": "vault-ca", "key": "ca.crt"}
        await sk.apply_store(kube, namespace, "vault", sk.vault(bao_tls.address, caProvider=ca))
        spec = sk.sync(TARGET, {"key": sk.from_store("vault", path, "key")})
        await kit.apply_sync(kube, namespace, "app", spec)
        await kit.wait_condition(kube, namespace, "app", "Ready")
        assert kit.values(await kit.get_secret(kube, namespace, TARGET)) == {"key": "over-tls"}
        await sk.wait_store(kube, namespace, "vault")


async def test_a_restart_polls_only_what_is_due_or_never_synced(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any
) -> None:
    synced_path, new_path = unique("synced"), unique("new")
    sk.seed(root, synced_path, key="s")
    sk.seed(root, new_path, key="n")
    await sk.put_token(kube, namespace, bao.root_token)
    await sk.apply_store(kube, namespace, "vault", sk.vault(bao.address))
    first = sk.sync("t1", {"key": sk.from_store("vault", synced_path, "key")})
    async with sk.controller(kube, namespace):
        await kit.apply_sync(kube, namespace, "synced", first)
        before = await kit.wait_condition(kube, namespace, "synced", "Ready")
    reads = sk.audited_reads(bao, synced_path)
    second = sk.sync("t2", {"key": sk.from_store("vault", new_path, "key")})
    await kit.apply_sync(kube, namespace, "new", second)  # created while nothing runs

    async with sk.controller(kube, namespace):
        await kit.wait_condition(kube, namespace, "new", "Ready")
        await asyncio.sleep(0.5)  # every SecretSync of the initial list has been reconciled
        after = await kit.get_sync(kube, namespace, "synced")
    assert sk.audited_reads(bao, new_path) >= 1
    assert sk.audited_reads(bao, synced_path) == reads  # resumed from its target, not polled
    assert after["status"] == before["status"]


async def test_owner_with_retain_keeps_every_key_it_wrote_data_from_included(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any
) -> None:
    """Retain means the keys stay: dataFrom's as well as data's, only the ownerReference goes."""
    path = unique("retained")
    sk.seed(root, path, a="a-1", b="b-1")
    spec = sk.sync(
        "kept",
        {"one": sk.from_store("vault", path, "a")},
        dataFrom=[{"store": {"name": "vault"}, "path": path, "prefix": "all-"}],
    )
    spec["target"] |= {"creationPolicy": "Owner", "deletionPolicy": "Retain"}
    async with sk.controller(kube, namespace):
        await sk.put_token(kube, namespace, token_for(root, f"{KV2}/data/{path}"))
        await sk.apply_store(kube, namespace, "vault", sk.vault(bao.address))
        await kit.apply_sync(kube, namespace, "owner", spec)
        await kit.wait_condition(kube, namespace, "owner", "Ready")
        written = kit.values(await kit.get_secret(kube, namespace, "kept"))
        assert written == {"one": "a-1", "all-a": "a-1", "all-b": "b-1"}
        await kube.delete(SECRET_SYNCS.path(namespace, "owner"))
        await kit.wait_all_finalized(kube, namespace)
    await asyncio.sleep(2)  # the garbage collector's time to act, were there a reference
    kept = await kit.get_secret(kube, namespace, "kept")
    assert kept is not None and not kept["metadata"].get("ownerReferences")
    assert kit.values(kept) == written
