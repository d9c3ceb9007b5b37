"""Session fixtures: one real control plane for the whole run, always stopped.

The cluster starts lazily, only when a test asks for it, so `pytest -m "not
cluster"` needs no Go toolchain. Its processes die with the test run even when
it is killed (PR_SET_PDEATHSIG), and are stopped in teardown on failure or
Ctrl-C.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from secretloom.api import admission
from secretloom.runtime import crds
from secretloom.runtime.kube import KubeClient
from secretloom.runtime.resources import NAMESPACES
from secretloom.testing import cluster as local


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local.Cluster]:
    data_dir = tmp_path_factory.mktemp("cluster") / "cp"
    with local.running(data_dir, die_with_parent=True) as running:
        yield running


@pytest.fixture(scope="session")
async def kube(cluster: local.Cluster) -> AsyncIterator[KubeClient]:
    """An admin client; the CRDs and their admission policies installed as a real install does."""
    async with KubeClient.from_kubeconfig(cluster.kubeconfig, qps=0) as client:
        await crds.install(client, admission.bundle())
        yield client


@pytest.fixture
async def namespace(kube: KubeClient) -> AsyncIterator[str]:
    """A fresh namespace per test, deleted afterwards (by the real namespace controller)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    await kube.create(NAMESPACES.path(), {"metadata": {"name": name}})
    yield name
    await kube.delete(NAMESPACES.path(name=name))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that use the control plane carry the `cluster` marker, so
    # `pytest -m "not cluster"` is the fast unit run.
    for item in items:
        if "cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)
        if "kubeseal_bin" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kubeseal)
