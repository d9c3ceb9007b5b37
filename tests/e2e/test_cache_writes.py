"""A controller's own write never resurrects a deleted object in the cache (issue 10).

The answer to removing a SecretSync's last finalizer is an object that no
longer exists; it used to be put back into the cache after the watch had
already delivered the DELETED, so a deleted store-backed SecretSync stayed in
the cache, and in the per-object condition gauge, for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import uuid
from typing import Any

from prometheus_client import generate_latest

from secretloom.runtime import metrics
from secretloom.runtime.cache import Cache
from secretloom.runtime.kube import ApiError, KubeClient
from secretloom.runtime.resources import NAMESPACES, SECRET_SYNCS
from secretloom.testing.openbao import OpenBaoServer
from tests.e2e import kit
from tests.e2e import stores_kit as sk
from tests.openbao.support import unique

SYNCS_PER_NAMESPACE = 6


def gauge_mentions(namespace: str) -> bool:
    exposition = generate_latest(metrics.REGISTRY).decode()
    return f'namespace="{namespace}"' in exposition


async def test_a_write_answer_never_brings_back_a_deleted_or_newer_object(
    kube: KubeClient, namespace: str
) -> None:
    cache = Cache(kube, SECRET_SYNCS, [namespace])  # no controller: only this cache reads
    spec = kit.sync_spec("t", {"k": ("src", "k")})
    first = await kit.apply_sync(kube, namespace, "s", spec)
    watching = asyncio.create_task(cache.run())
    try:
        await kit.eventually(_cached(cache, namespace))
        newer = await kit.apply_sync(kube, namespace, "s", {**spec, "refreshInterval": "2h"})

        async def caught_up() -> bool:
            held = cache.get((namespace, "s"))
            return (
                held is not None
                and held["metadata"]["resourceVersion"] == (newer["metadata"]["resourceVersion"])
            )

        await kit.eventually(caught_up)
        assert cache.put(copy.deepcopy(first)) is False  # older than the cached one
        assert cache.get((namespace, "s"))["spec"]["refreshInterval"] == "2h"  # type: ignore[index]

        await kube.delete(SECRET_SYNCS.path(namespace, "s"))

        async def gone() -> bool:
            return cache.get((namespace, "s")) is None

        await kit.eventually(gone)
        assert cache.put(copy.deepcopy(newer)) is False  # deleted: never re-added
        assert cache.get((namespace, "s")) is None
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching


def _cached(cache: Cache, namespace: str) -> Any:
    async def probe() -> bool:
        return cache.get((namespace, "s")) is not None

    return probe


async def test_deleting_a_namespace_drops_its_store_backed_syncs_from_the_gauge(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any
) -> None:
    path = unique("app")
    sk.seed(root, path, key="v")
    doomed = f"t-{uuid.uuid4().hex[:10]}"  # deleted by the test itself
    await kube.create(NAMESPACES.path(), {"metadata": {"name": doomed}})
    async with sk.controller(kube, doomed) as manager:
        await sk.put_token(kube, doomed, bao.root_token)
        await sk.apply_store(kube, doomed, "vault", sk.vault(bao.address))
        for i in range(SYNCS_PER_NAMESPACE):
            spec = sk.sync(f"t{i}", {"key": sk.from_store("vault", path, "key")})
            await kit.apply_sync(kube, doomed, f"s{i}", spec)
        for i in range(SYNCS_PER_NAMESPACE):
            await kit.wait_condition(kube, doomed, f"s{i}", "Ready")
        assert gauge_mentions(doomed)

        await kube.delete(NAMESPACES.path(name=doomed))  # the namespace controller deletes them

        async def namespace_gone() -> bool:
            try:
                await kube.get(NAMESPACES.path(name=doomed))
            except ApiError as err:
                return err.status == 404
            return False

        await kit.eventually(namespace_gone, timeout=60)
        await kit.eventually(_settled(manager.syncs, doomed), timeout=5)
        assert not gauge_mentions(doomed)


def _settled(cache: Cache, namespace: str) -> Any:
    async def probe() -> bool:
        return not any(o["metadata"]["namespace"] == namespace for o in cache.values())

    return probe
