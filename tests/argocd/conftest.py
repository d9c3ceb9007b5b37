"""Argo CD's own code as the judge of secretloom's Argo CD integration.

A plain Lua 5.1 would pass scripts Argo CD refuses: Argo CD runs custom
health and action scripts in gopher-lua without the `string`, `io` and full
`os` libraries unless `useOpenLibs` is set, reads them only from an argocd-cm
labelled `app.kubernetes.io/part-of: argocd`, and turns an action's result
into a merge patch. So the judge is Argo CD v3.6.1 itself: the harness in
hack/argocd-lua links its `util/lua`, `util/settings`, gitops-engine health
and repo-server packages, and its own cmp-server runs the plugin. Both are
built once into the cache by `make argocd-tools`; the tests only look them up
(`hack/build-argocd.sh --cached`) and fail naming that step when missing.

`argocd` installs the snippet as the docs tell a platform team to: an
argocd-cm shaped like Argo CD's install manifest (with a setting of the
team's own), then `kubectl patch --type merge --patch-file` with
deploy/argocd/argocd-cm-health.yaml, in a namespace of its own on the
session's control plane. The harness reads it back through Argo CD's
settings manager from that live ConfigMap.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from secretloom.runtime.kube import KubeClient, Obj
from secretloom.runtime.resources import CONFIGMAPS, NAMESPACES
from secretloom.testing import cluster as local
from tests.argocd.argocd_cm import REPO, SNIPPET
from tests.openbao.conftest import ROOT_TOKEN_CANARY, bao, bao_session, root

__all__ = ["ROOT_TOKEN_CANARY", "bao", "bao_session", "root"]

# A setting the team had before installing secretloom's snippet: it must survive.
TEAM_SETTING = {"url": "https://argocd.example"}


class HarnessError(Exception):
    """The harness refused; the message is its one line on stderr."""


@dataclass(frozen=True)
class ArgoCD:
    """Argo CD v3.6.1 code, reading the argocd-cm of `namespace` on the test cluster."""

    bin_dir: Path
    kubeconfig: Path
    namespace: str

    async def run(self, *args: str, stdin: str, env: dict[str, str] | None = None) -> Any:
        proc = await asyncio.create_subprocess_exec(
            str(self.bin_dir / "argocd-harness"),
            "--namespace",
            self.namespace,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig), **(env or {})},
        )
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout=150)
        if proc.returncode != 0:
            raise HarnessError(err.decode().strip())
        return json.loads(out)

    async def health(self, obj: Obj) -> Any:
        """What Argo CD's application controller shows as the object's health."""
        return await self.run("health", stdin=json.dumps(obj))

    async def action(self, obj: Obj, name: str) -> Any:
        """The discovered actions and the merge patch argocd-server sends for `name`."""
        return await self.run("action", name, stdin=json.dumps(obj))

    async def manifests(self, app: Obj, repo_root: Path, sockets: Path) -> Any:
        """The repo-server's manifest generation for an Application, over the CMP sockets."""
        env = {"ARGOCD_PLUGINSOCKFILEPATH": str(sockets)}
        return await self.run("manifests", str(repo_root), stdin=json.dumps(app), env=env)


@pytest.fixture(scope="session")
def argocd_bin() -> Path:
    done = subprocess.run(
        ["bash", str(REPO / "hack" / "build-argocd.sh"), "--cached"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(done.stderr.strip())
    return Path(done.stdout.strip())


@pytest.fixture(scope="session")
async def argocd(
    kube: KubeClient, cluster: local.Cluster, argocd_bin: Path
) -> AsyncIterator[ArgoCD]:
    namespace = f"argocd-{uuid.uuid4().hex[:8]}"
    await kube.create(NAMESPACES.path(), {"metadata": {"name": namespace}})
    # As Argo CD's install manifest ships it, plus the team's own setting.
    labels = {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"}
    base = {"metadata": {"name": "argocd-cm", "labels": labels}, "data": TEAM_SETTING}
    await kube.create(CONFIGMAPS.path(namespace), base)
    cluster.kubectl(
        *("-n", namespace, "patch", "configmap", "argocd-cm"),
        *("--type", "merge", "--patch-file", str(SNIPPET)),
    )
    yield ArgoCD(argocd_bin, cluster.kubeconfig, namespace)
    await kube.delete(NAMESPACES.path(name=namespace))
