"""The leader's write fence, without a cluster: writes stop once the lease may be gone."""

from __future__ import annotations

import asyncio
import ssl
import time

import pytest

from secretloom.runtime.kube import KubeClient, NotLeader
from secretloom.runtime.kubeconfig import Connection
from secretloom.runtime.leader import LeaderElector, LeaseConfig


def _client() -> KubeClient:
    # Port 9 (discard) on loopback answers nothing: a write that got past the
    # fence would fail as Unreachable, not NotLeader.
    context = ssl.create_default_context()
    return KubeClient(Connection("https://127.0.0.1:9", context, context, None), qps=0)


def _elector(deadline: float) -> LeaderElector:
    config = LeaseConfig("ns", lease_duration=3 * deadline, renew_deadline=deadline)
    return LeaderElector(_client(), config, "me")


def test_the_fence_opens_only_while_renewals_are_fresh() -> None:
    elector = _elector(deadline=0.2)
    assert not elector.valid()  # never acquired
    elector.is_leader.set()
    assert not elector.valid()  # leader flag alone is not enough
    elector._renewed = time.monotonic()
    assert elector.valid()
    time.sleep(0.25)  # a pause longer than the renew deadline (as a SIGSTOP would be)
    assert not elector.valid()


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_closed_fence_refuses_writes_before_sending(method: str) -> None:
    client = _client()
    client.fence = lambda _path: False
    with pytest.raises(NotLeader):
        asyncio.run(client.request(method, "/api/v1/namespaces/ns/secrets/x", body={}))
