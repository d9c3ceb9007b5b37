"""The chainsaw suite (tests/chainsaw/) passes against a real control plane and controller.

Run the way docs/chainsaw.md tells users to run it: a control plane of its own
(so the suite's `argocd` namespace is its alone), the CRDs and admission
policies installed, `secretloom controller` as a separate process, then
`chainsaw test` with that kubeconfig. Chainsaw is the pinned build of
hack/build-chainsaw.sh (`make chainsaw`, a dependency of `make test`).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from secretloom.api import admission
from secretloom.runtime import crds
from secretloom.runtime.kube import KubeClient
from secretloom.testing import cluster as local
from secretloom.testing import controller

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "tests" / "chainsaw"


def chainsaw() -> Path:
    found = subprocess.run(
        ["bash", str(ROOT / "hack" / "build-chainsaw.sh"), "--cached"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if found.returncode != 0:
        pytest.fail(found.stderr.strip())
    return Path(found.stdout.strip()) / "chainsaw"


async def _install(kubeconfig: Path) -> None:
    async with KubeClient.from_kubeconfig(kubeconfig, qps=0) as kube:
        await crds.install(kube, admission.bundle())


def test_the_chainsaw_suite_passes(tmp_path: Path) -> None:
    binary = chainsaw()
    with local.running(tmp_path / "cp", die_with_parent=True) as cluster:
        asyncio.run(_install(cluster.kubeconfig))
        log = tmp_path / "controller.log"
        with controller.running(cluster.kubeconfig, log):
            done = subprocess.run(
                [str(binary), "test", str(SUITE), "--no-color", "--report-format",
                 "JUNIT-TEST", "--report-path", str(tmp_path), "--report-name", "chainsaw"],
                capture_output=True, text=True, timeout=240, check=False, cwd=ROOT,
                env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
            )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Tests Summary..." in done.stdout
    assert "- Passed  tests 1" in done.stdout
    assert "- Failed  tests 0" in done.stdout
    report = (tmp_path / "chainsaw.xml").read_text()
    assert 'name="argocd-notifications"' in report
