"""Fixtures for the Helm chart tests: the pinned helm, and control planes the chart installs into.

An install test needs a control plane nobody installed secretloom into: the
session's `cluster` already carries the CRDs and admission policies (applied by
the `kube` fixture the way `secretloom install-crds` does), and Helm refuses to
adopt objects another tool created. `bare_cluster` therefore starts a fresh
control plane per test (about five seconds), stopped afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from secretloom.runtime.kube import KubeClient
from secretloom.testing import cluster as local
from secretloom.testing import tools
from tests.chart.kit import Helm


@pytest.fixture(scope="session")
def chart(repo_root: Path) -> Path:
    return repo_root / "deploy" / "chart" / "secretloom"


@pytest.fixture
def helm(chart: Path, tmp_path: Path) -> Helm:
    home = tmp_path / "helm"
    home.mkdir()
    return Helm(binary=tools.tool("helm"), home=home, chart=chart)


@pytest.fixture
def bare_cluster(tmp_path: Path) -> Iterator[local.Cluster]:
    with local.running(tmp_path / "cp", die_with_parent=True) as running:
        yield running


@pytest.fixture
async def bare_kube(bare_cluster: local.Cluster) -> AsyncIterator[KubeClient]:
    """An admin client of `bare_cluster`."""
    async with KubeClient.from_kubeconfig(bare_cluster.kubeconfig, qps=0) as client:
        yield client


@pytest.fixture
def cluster_helm(helm: Helm, bare_cluster: local.Cluster) -> Helm:
    """`helm` talking to `bare_cluster` as its admin."""
    return Helm(
        binary=helm.binary, home=helm.home, chart=helm.chart, kubeconfig=bare_cluster.kubeconfig
    )
