"""`secretloom check notifications` against a live namespace on the real control plane.

The ConfigMap (Argo CD's catalog format) references three keys; two are written by the
example's SecretSyncs, the third by a SecretSync whose source does not exist yet: it is
reported as declared but not held, with that SecretSync's Ready condition, and the exit is
non-zero. No value is ever printed.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import yaml

from secretloom.runtime.kube import KubeClient
from secretloom.runtime.resources import CONFIGMAPS
from secretloom.testing import cluster as local
from tests.e2e import kit

ROOT = Path(__file__).resolve().parents[2]
CM = ROOT / "tests/checks/argocd-notifications-cm.yaml"
SECRETLOOM = Path(sys.executable).parent / "secretloom"
SHELL = "argocd-notifications-secret"
CANARY = "notif-canary-3b8e"


async def test_the_live_namespace_is_checked(
    kube: KubeClient, namespace: str, cluster: local.Cluster
) -> None:
    cm = yaml.safe_load(CM.read_text())
    cm["metadata"]["namespace"] = namespace
    await kube.apply(CONFIGMAPS.path(namespace, cm["metadata"]["name"]), cm, field_manager="argocd")
    await kit.put_secret(kube, namespace, SHELL, {}, manager="helm")
    await kit.put_secret(kube, namespace, "gitlab", {"token": CANARY}, manager="vso")
    await kit.put_secret(kube, namespace, "grafana", {"key": CANARY}, manager="vso")
    async with kit.controller(kube, namespace):
        for name, key, source in (
            ("gitlab-token", "gitlab-token", ("gitlab", "token")),
            ("grafana-token", "grafana-api-key", ("grafana", "key")),
            ("slack-token", "slack-token", ("slack", "token")),  # no such Secret
        ):
            await kit.apply_sync(kube, namespace, name, kit.sync_spec(SHELL, {key: source}))
        await kit.wait_condition(kube, namespace, "gitlab-token", "Ready")
        await kit.wait_condition(kube, namespace, "grafana-token", "Ready")
        await kit.wait_condition(kube, namespace, "slack-token", "SourceMissing")
        done = await asyncio.to_thread(
            subprocess.run,
            [str(SECRETLOOM), "check", "notifications", "-n", namespace,
             "--kubeconfig", str(cluster.kubeconfig)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        f"ok: $grafana-api-key (service.grafana) <- Secret {namespace}/{SHELL} "
        f"(owner secretloom/{namespace}/grafana-token)",
        f"missing: $slack-token (service.slack): SecretSync {namespace}/slack-token provides it, "
        "but the Secret does not hold it yet, Ready=False (SourceMissing)",
        f"ok: $gitlab-token (service.webhook.gitlab) <- Secret {namespace}/{SHELL} "
        f"(owner secretloom/{namespace}/gitlab-token)",
        "3 reference(s), 1 missing, 0 unused key(s), 0 service error(s)",
    ]
    assert CANARY not in done.stdout + done.stderr
    assert kit.b64(CANARY) not in done.stdout + done.stderr
