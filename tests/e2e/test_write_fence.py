"""The leader's write fence is asked again once the connection is ready, on the real API server.

A replica can be stopped (SIGSTOP, a frozen VM) after `KubeClient.request` checked
the fence and before the request left, most often while a connection is being
opened. These tests close the fence in that window and expect nothing to be sent.
"""

from __future__ import annotations

import pytest

from secretloom.runtime.kube import ApiError, KubeClient, NotLeader
from secretloom.runtime.resources import SECRETS
from secretloom.testing import cluster as local


class ClosesAfterFirstLook:
    """A fence open when `request` first asks, closed from the second question on."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, path: str) -> bool:
        self.asked.append(path)
        return len(self.asked) == 1


def _secret(namespace: str, name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"k": "dg=="},
    }


@pytest.mark.parametrize("connection", ["reused", "new"])
async def test_a_fence_closed_before_the_send_stops_the_write(
    cluster: local.Cluster, kube: KubeClient, namespace: str, connection: str
) -> None:
    name = f"fenced-{connection}"
    path = SECRETS.path(namespace, name)
    async with KubeClient.from_kubeconfig(cluster.kubeconfig, qps=0) as client:
        if connection == "reused":
            await client.get("/version")  # a connection waits in the pool
        fence = ClosesAfterFirstLook()
        client.fence = fence
        with pytest.raises(NotLeader):
            await client.apply(path, _secret(namespace, name), field_manager="t")
        assert fence.asked == [path, path]  # before the request, and with the connection
        client.fence = None
        await client.get("/version")  # the refused request left the pool usable
    with pytest.raises(ApiError) as missing:
        await kube.get(path)
    assert missing.value.status == 404  # nothing reached the API server


async def test_an_open_fence_is_asked_twice_and_the_write_lands(
    cluster: local.Cluster, kube: KubeClient, namespace: str
) -> None:
    path = SECRETS.path(namespace, "open")
    asked: list[str] = []

    def fence(p: str) -> bool:
        asked.append(p)
        return True

    async with KubeClient.from_kubeconfig(cluster.kubeconfig, qps=0) as client:
        client.fence = fence
        await client.apply(path, _secret(namespace, "open"), field_manager="t")
        await client.get("/version")  # reads are never fenced
    assert asked == [path, path]
    assert (await kube.get(path))["data"] == {"k": "dg=="}
