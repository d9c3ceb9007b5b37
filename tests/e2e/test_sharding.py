"""`--shards`: two replicas split the namespaces over two shard Leases and take over each other's.

Real processes on the real API server: which replica works on a namespace is
decided by the shard Leases alone, every change is written exactly once (the
target's watch counts the writes), and a replica killed with SIGKILL has its
shard taken over within the lease duration plus two retry periods.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from secretloom.runtime.kube import ApiError, KubeClient
from secretloom.runtime.resources import LEASES, NAMESPACES
from secretloom.runtime.shards import shard_of
from secretloom.testing import cluster as local
from secretloom.testing import controller
from tests.e2e import kit

SHARDS = 2
LEASE = ("--lease-duration", "3", "--renew-deadline", "2", "--retry-period", "0.5")


@asynccontextmanager
async def one_namespace_per_shard(kube: KubeClient) -> AsyncIterator[list[str]]:
    """Fresh namespaces, the i-th of which hashes to shard i."""
    names: list[str | None] = [None] * SHARDS
    while None in names:
        name = f"shard-{uuid.uuid4().hex[:10]}"
        if names[shard_of(name, SHARDS)] is None:
            names[shard_of(name, SHARDS)] = name
    chosen = [n for n in names if n is not None]
    for name in chosen:
        await kube.create(NAMESPACES.path(), {"metadata": {"name": name}})
    try:
        yield chosen
    finally:
        for name in chosen:
            await kube.delete(NAMESPACES.path(name=name))


async def holders(kube: KubeClient, lease_namespace: str) -> list[str]:
    paths = [
        LEASES.path(lease_namespace, f"secretloom-controller-shard-{i}") for i in range(SHARDS)
    ]
    found = []
    for path in paths:
        try:
            found.append((await kube.get(path))["spec"].get("holderIdentity") or "")
        except ApiError:  # not created yet
            found.append("")
    return found


def propagations(port: int) -> float:
    """How many source changes this replica has written (its propagation histogram's count)."""
    for line in controller.http_get(port, "/metrics").splitlines():
        if line.startswith("secretloom_propagation_seconds_count"):
            return float(line.split()[-1])
    return 0.0


async def change_lands_once(kube: KubeClient, namespace: str, value: str) -> int:
    """Put `value` in the source; returns how many times the target was written for it."""
    async with kit.TargetWatch(kube, namespace, "target") as watch:
        await kit.put_secret(kube, namespace, "src", {"token": value}, manager="vso")

        async def landed() -> bool:
            return kit.values(await kit.get_secret(kube, namespace, "target")) == {"token": value}

        await kit.eventually(landed, timeout=15)
        await asyncio.sleep(1)  # a second writer would show up here
        return len(watch.writes)


async def test_two_replicas_split_the_shards_and_take_over(
    kube: KubeClient, cluster: local.Cluster, namespace: str, tmp_path: Path
) -> None:
    async with one_namespace_per_shard(kube) as spaces:
        for ns in spaces:
            await kit.put_secret(kube, ns, "src", {"token": "v0"}, manager="vso")
            await kit.apply_sync(
                kube, ns, "sync", kit.sync_spec("target", {"token": ("src", "token")})
            )
        args = ("--shards", str(SHARDS), "--lease-namespace", namespace, *LEASE)
        with (
            controller.running(
                cluster.kubeconfig, tmp_path / "a.log", *args, "--identity", "replica-a"
            ) as (first, port_a),
            controller.running(
                cluster.kubeconfig, tmp_path / "b.log", *args, "--identity", "replica-b"
            ) as (second, port_b),
        ):
            for ns in spaces:
                await kit.wait_condition(kube, ns, "sync", "Ready", timeout=20)

            async def split() -> bool:
                return sorted(await holders(kube, namespace)) == ["replica-a", "replica-b"]

            await kit.eventually(split, timeout=20)  # one shard each once both are seen
            ports = {"replica-a": port_a, "replica-b": port_b}
            for shard, ns in enumerate(spaces):
                # Only the holder of the namespace's shard writes its changes.
                worker = ports[(await holders(kube, namespace))[shard]]
                idle = port_b if worker == port_a else port_a
                before = (propagations(worker), propagations(idle))
                for i in range(1, 4):
                    assert await change_lands_once(kube, ns, f"v{i}") == 1
                assert (propagations(worker), propagations(idle)) == (before[0] + 3, before[1])

            owner = (await holders(kube, namespace))[1]
            victim, survivor = (
                (first, "replica-b") if owner == "replica-a" else (second, "replica-a")
            )
            killed = time.monotonic()
            os.kill(victim.pid, signal.SIGKILL)

            async def taken_over() -> bool:
                return await holders(kube, namespace) == [survivor, survivor]

            await kit.eventually(taken_over, timeout=20, interval=0.05)
            took = time.monotonic() - killed
            # Its member and shard Leases expire together: the lease duration plus at most
            # two retry periods of observation, and a retry period to act on it.
            assert took <= 3 + 3 * 0.5 + 0.5, took
            for ns in spaces:
                assert await change_lands_once(kube, ns, "after") == 1
