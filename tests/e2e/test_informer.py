"""Informer behaviour against the real API server: list+watch, 410 relist, indexes, transform."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import httpx2 as httpx
import pytest

from secretloom.runtime.informer import Informer
from secretloom.runtime.kube import Gone, KubeClient, Obj
from secretloom.runtime.resources import SECRETS
from secretloom.testing import cluster as local
from tests.e2e import kit


@pytest.fixture(scope="module")
def uncached(
    cluster: local.Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[local.Cluster]:
    """A second control plane whose watches go straight to etcd, so compaction means 410."""
    data_dir = tmp_path_factory.mktemp("uncached") / "cp"
    with local.running(
        data_dir,
        bin_dir=cluster.bin_dir,
        die_with_parent=True,
        apiserver_args=("--watch-cache=false",),
    ) as running:
        yield running


async def test_a_compacted_resource_version_is_gone(uncached: local.Cluster) -> None:
    async with KubeClient.from_kubeconfig(uncached.kubeconfig) as kube:
        _, old = await kube.list(SECRETS.path("default"))
        for i in range(3):
            await kit.put_secret(kube, "default", "churn", {"i": str(i)}, manager="t")
        _, current = await kube.list(SECRETS.path("default"))
        compacted = httpx.post(
            f"{uncached.etcd_url}/v3/kv/compaction",
            json={"revision": current, "physical": True},
            timeout=10,
        )
        assert compacted.status_code == 200
        with pytest.raises(Gone):
            async for _ in kube.watch(SECRETS.path("default"), resource_version=old):
                pass


class ExpiringInformer(Informer):
    """Hands the first watch a compacted resourceVersion, as after a long disconnect."""

    expired: str | None = None

    async def _relist(self) -> str:
        version = await super()._relist()
        expired, self.expired = self.expired, None
        return expired or version


async def test_informer_relists_on_410_and_keeps_indexes(uncached: local.Cluster) -> None:
    namespace = "default"
    async with KubeClient.from_kubeconfig(uncached.kubeconfig) as kube:
        await run_informer(kube, namespace, uncached)


async def run_informer(kube: KubeClient, namespace: str, uncached: local.Cluster) -> None:
    _, old = await kube.list(SECRETS.path(namespace))
    for value in ("v0", "v1"):  # two revisions, so the one after `old` is compacted too
        await kit.put_secret(kube, namespace, "one", {"k": value}, manager="t")
    _, current = await kube.list(SECRETS.path(namespace))
    compacted = httpx.post(
        f"{uncached.etcd_url}/v3/kv/compaction",
        json={"revision": current, "physical": True},
        timeout=10,
    )
    assert compacted.status_code == 200
    informer = ExpiringInformer(
        kube,
        SECRETS,
        namespace=namespace,
        indexers={"by-label": lambda o: [o["metadata"].get("labels", {}).get("team", "")]},
    )
    seen: list[tuple[str, str]] = []
    informer.add_handler(
        lambda kind, old, new: seen.append((kind, (new or old or {})["metadata"]["name"]))
    )
    informer.expired = old
    stale: Obj = {"metadata": {"name": "stale", "namespace": namespace, "resourceVersion": "1"}}
    informer.store.put(stale)
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.synced.wait(), 5)
        assert ("DELETED", "stale") in seen  # the relist diff reports what vanished
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "two", "namespace": namespace, "labels": {"team": "grafana"}},
        }
        await kube.apply(SECRETS.path(namespace, "two"), body, field_manager="t")

        async def indexed() -> bool:
            return informer.store.by_index("by-label", "grafana") == {(namespace, "two")}

        await kit.eventually(indexed)
        assert informer.relists >= 1
        cached = informer.store.get((namespace, "one"))
        assert cached is not None
        assert "managedFields" not in cached["metadata"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_watch_delivers_secrets_near_the_size_limit_whole(
    kube: KubeClient, namespace: str
) -> None:
    """Events far larger than one read (and than aiohttp's line limit) arrive as one event each."""
    _, version = await kube.list(SECRETS.path(namespace))
    sizes = {"big-0": 700_000, "small": 10, "big-1": 760_000}  # base64 keeps it under 1 MiB
    for name, size in sizes.items():
        await kit.put_secret(kube, namespace, name, {"blob": "x" * size}, manager="t")
    seen: dict[str, int] = {}
    async with asyncio.timeout(30):
        async for event in kube.watch(SECRETS.path(namespace), resource_version=version):
            obj = event["object"]
            if event["type"] == "ADDED":
                seen[obj["metadata"]["name"]] = len(kit.values(obj)["blob"])
            if len(seen) == len(sizes):
                break
    assert seen == sizes
