"""The controller image's entrypoint against the real local control plane.

`secretloom controller --kubeconfig /kube/config` runs inside the container (host network, the
kubeconfig and its CA mounted read-only, as a Secret volume would be) and must reconcile a
SecretSync; it runs as uid 65532 with a read-only root filesystem and no capabilities, serves
its operations endpoints, keeps the synced value out of its log, and stops cleanly on SIGTERM
as PID 1 (a Python PID 1 without a handler would ignore it and be killed after the grace
period).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from pathlib import Path

import yaml

from secretloom.runtime.kube import KubeClient
from secretloom.testing import cluster as local
from secretloom.testing.cluster import free_port
from secretloom.testing.controller import http_get
from tests.e2e import kit
from tests.image.conftest import CONTROLLER, podman, run_args

CANARY = "image-canary-4f1d"


def container_kubeconfig(cluster: local.Cluster, directory: Path) -> Path:
    """The admin kubeconfig and its CA in one directory, as a Secret volume holds them.

    The CA is a file beside the config, not inline data: lightkube writes inline certificate
    data to a temporary file, which a read-only root filesystem without /tmp refuses.
    """
    directory.mkdir()
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    entry = config["clusters"][0]["cluster"]
    shutil.copyfile(entry["certificate-authority"], directory / "ca.crt")
    entry["certificate-authority"] = "/kube/ca.crt"
    (directory / "config").write_text(yaml.safe_dump(config))
    for path in (directory, *directory.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)  # for the image's uid; a throwaway token
    return directory


async def wait_ready(name: str, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not http_get(port, "/readyz").startswith("ok"):
        state = podman("inspect", "--format", "{{.State.Running}}", name).stdout.strip()
        logs = podman("logs", name)
        assert state == "true", (logs.stdout + logs.stderr)[-3000:]
        assert time.monotonic() < deadline, "controller container not ready"
        await asyncio.sleep(0.2)


def process_ids(name: str) -> list[str]:
    """Real, effective, saved and filesystem uid of the container's PID 1, seen from the host."""
    pid = podman("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
    status = Path(f"/proc/{pid}/status").read_text()
    return next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))


async def test_controller_image_reconciles_a_secretsync(
    kube: KubeClient, cluster: local.Cluster, namespace: str, tmp_path: Path
) -> None:
    kube_dir = container_kubeconfig(cluster, tmp_path / "kube")
    port = free_port()
    name = f"secretloom-test-{uuid.uuid4().hex[:8]}"
    started = podman(
        *run_args(
            CONTROLLER,
            options=(
                *("--detach", "--name", name, "--network", "host"),
                *("--volume", f"{kube_dir}:/kube:ro"),
            ),
            args=(
                *("controller", "--kubeconfig", "/kube/config", "--json-logs"),
                *("--metrics-addr", f"127.0.0.1:{port}"),
            ),
        )
    )
    assert started.returncode == 0, started.stderr
    try:
        await wait_ready(name, port)
        assert process_ids(name) == ["65532"] * 4

        await kit.put_secret(kube, namespace, "src", {"token": CANARY}, manager="vso")
        await kit.apply_sync(
            kube, namespace, "sync", kit.sync_spec("target", {"token": ("src", "token")})
        )
        await kit.wait_condition(kube, namespace, "sync", "Ready", timeout=30)
        target = await kit.get_secret(kube, namespace, "target")
        assert kit.values(target) == {"token": CANARY}
        assert target is not None
        assert kit.owners(target)[f"secretloom/{namespace}/sync"] == {"token"}

        assert http_get(port, "/healthz") == "ok\n"
        assert "secretloom_sync_total" in http_get(port, "/metrics")
    finally:
        stopped = podman("stop", "--time", "20", name, timeout=60)
        state = json.loads(podman("inspect", "--format", "{{json .State}}", name).stdout)
        logs = podman("logs", name)
        podman("rm", "--force", name)
    assert stopped.returncode == 0, stopped.stderr
    assert state["ExitCode"] == 0, logs.stdout[-3000:]
    assert CANARY not in logs.stdout + logs.stderr
    assert '"level"' in logs.stdout + logs.stderr  # JSON logs did reach the container log
