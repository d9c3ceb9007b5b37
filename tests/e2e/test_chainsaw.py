"""The chainsaw suite (tests/chainsaw/) passes against a real control plane and controller.

Run the way docs/chainsaw.md tells users to run it: a control plane of its own
(so the suite's `argocd` namespace is its alone), the CRDs and admission
policies installed, `secretloom controller` as a separate process, then
`chainsaw test` with that kubeconfig, one test at a time (both examples use
`argocd`). The Vault variant reads a real OpenBao dev server seeded with the
example's paths (`secretloom.testing.vault_example`, as `make demo` uses it),
passed to the suite as values: its address and a token that reads exactly
those paths. Chainsaw is the pinned build of hack/build-chainsaw.sh
(`make chainsaw`, a dependency of `make test`).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from secretloom.api import admission
from secretloom.runtime import crds
from secretloom.runtime.kube import KubeClient
from secretloom.testing import cluster as local
from secretloom.testing import controller, vault_example

# Its own control plane and OpenBao, not the session's: marked by hand.
pytestmark = [pytest.mark.cluster, pytest.mark.openbao]
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
    missing = vault_example.unavailable()
    if missing is not None:
        pytest.fail(missing)
    with (
        vault_example.server(tmp_path / "bao") as bao,
        local.running(tmp_path / "cp", die_with_parent=True) as cluster,
    ):
        created = bao.client().auth.token.create(
            policies=[vault_example.POLICY], no_default_policy=True, ttl="1h"
        )
        token = created["auth"]["client_token"]
        values = tmp_path / "values.yaml"
        values.write_text(yaml.safe_dump({"server": bao.address, "token": token}))
        asyncio.run(_install(cluster.kubeconfig))
        log = tmp_path / "controller.log"
        server = urlsplit(bao.address).netloc
        with controller.running(cluster.kubeconfig, log, "--store-servers", server):
            done = subprocess.run(
                [str(binary), "test", str(SUITE), "--no-color", "--parallel", "1",
                 "--values", str(values), "--report-format", "JUNIT-TEST",
                 "--report-path", str(tmp_path), "--report-name", "chainsaw"],
                capture_output=True, text=True, timeout=400, check=False, cwd=ROOT,
                env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
            )  # fmt: skip
    # A failure shows chainsaw's output, never the token.
    output = (done.stdout[-4000:] + done.stderr[-2000:]).replace(token, "<token>")
    assert done.returncode == 0, output
    assert "- Passed  tests 2" in done.stdout
    assert "- Failed  tests 0" in done.stdout
    report = (tmp_path / "chainsaw.xml").read_text()
    for name in ("argocd-notifications", "argocd-notifications-vault"):
        assert f'name="{name}"' in report
