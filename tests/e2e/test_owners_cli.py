"""`secretloom owners`: the key -> field manager table, read from a real API server.

The Secret is written by three managers the way the demo writes it (helm the
shell, two writers one key each, one key through an `Update`); the CLI runs as
a user runs it (a subprocess with a kubeconfig) and must name each key's owner
and never print a value.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from secretloom.runtime.kube import KubeClient
from secretloom.runtime.resources import SECRETS
from secretloom.testing import cluster as local
from tests.e2e import kit

SECRETLOOM = Path(sys.executable).parent / "secretloom"
CANARY = "owners-canary-value-7f3a"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SECRETLOOM), *args], capture_output=True, text=True, timeout=60, check=False
    )


async def test_owners_names_each_keys_manager(
    kube: KubeClient, namespace: str, cluster: local.Cluster
) -> None:
    await kit.put_secret(kube, namespace, "target", {}, manager="helm")
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "target"}}
    for manager, key in (("team-a", "gitlab-token"), ("team-b", "grafana-api-key")):
        await kube.apply(
            SECRETS.path(namespace, "target"),
            {**body, "data": {key: kit.b64(CANARY)}},
            field_manager=manager,
        )
    secret = await kube.get(SECRETS.path(namespace, "target"))
    secret["data"]["edited"] = kit.b64(CANARY)
    await kube.replace(SECRETS.path(namespace, "target"), secret)

    done = _run("owners", "target", "-n", namespace, "--kubeconfig", str(cluster.kubeconfig))
    assert done.returncode == 0, done.stderr
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in done.stdout.splitlines()
        if line.count("│") == 3
    }
    assert rows["gitlab-token"] == "team-a"
    assert rows["grafana-api-key"] == "team-b"
    assert "(Update)" in rows["edited"]
    assert "helm also owns: type" in done.stdout
    as_json = _run(
        "owners", "target", "-n", namespace, "-o", "json", "--kubeconfig", str(cluster.kubeconfig)
    )
    assert json.loads(as_json.stdout)["keys"]["gitlab-token"] == ["team-a"]
    for text in (done.stdout, done.stderr, as_json.stdout):
        assert CANARY not in text
        assert kit.b64(CANARY) not in text


async def test_owners_missing_secret_is_one_line(namespace: str, cluster: local.Cluster) -> None:
    done = _run("owners", "nope", "-n", namespace, "--kubeconfig", str(cluster.kubeconfig))
    assert done.returncode == 1
    assert done.stderr == f"secretloom: error: Secret {namespace}/nope not found\n"
