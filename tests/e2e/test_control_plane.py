"""The local control plane is real: watches, server-side apply ownership, RBAC, CLI lifecycle."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from secretloom.runtime.kube import ApiError, KubeClient
from secretloom.runtime.meta import data_keys_by_manager
from secretloom.runtime.resources import SECRETS
from secretloom.testing import cluster as local


async def test_watch_and_server_side_apply_under_two_field_managers(
    kube: KubeClient, namespace: str
) -> None:
    path = SECRETS.path(namespace)
    created = await kube.create(path, {"metadata": {"name": "shared"}, "type": "Opaque"})
    seen: list[dict[str, object]] = []

    async def watch() -> None:
        async for event in kube.watch(
            path,
            resource_version=created["metadata"]["resourceVersion"],
            params={"fieldSelector": "metadata.name=shared"},
        ):
            if event["type"] == "MODIFIED":
                seen.append(event["object"])
                if len(seen) == 2:
                    return

    watcher = asyncio.create_task(watch())
    for manager, key in (("team-gitlab", "gitlab-token"), ("team-grafana", "grafana-api-key")):
        await kube.apply(
            SECRETS.path(namespace, "shared"),
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "shared"},
                "data": {key: base64.b64encode(f"value-of-{key}".encode()).decode()},
            },
            field_manager=manager,
        )
    await asyncio.wait_for(watcher, 10)

    final = await kube.get(SECRETS.path(namespace, "shared"))
    assert set(final["data"]) == {"gitlab-token", "grafana-api-key"}
    owners = data_keys_by_manager(final)
    assert owners["team-gitlab"] == {"gitlab-token"}
    assert owners["team-grafana"] == {"grafana-api-key"}
    last_seen = seen[-1]["data"]
    assert isinstance(last_seen, dict)
    assert set(last_seen) == {"gitlab-token", "grafana-api-key"}


async def test_non_admin_is_denied_a_cluster_wide_secret_list(cluster: local.Cluster) -> None:
    async with KubeClient.from_kubeconfig(cluster.user_kubeconfig) as user:
        with pytest.raises(ApiError) as denied:
            await user.list(SECRETS.path())
    assert denied.value.status == 403
    assert denied.value.reason == "Forbidden"
    assert local.NONADMIN_USER in denied.value.message


def test_cli_up_kubectl_down_leaves_no_process(cluster: local.Cluster, tmp_path: Path) -> None:
    env = {**os.environ, "SECRETLOOM_CONTROLPLANE_BIN": str(cluster.bin_dir)}
    cli = [sys.executable, "-m", "secretloom.cli", "cluster"]
    data_dir = tmp_path / "cli-cluster"
    up = subprocess.run(
        [*cli, "up", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert up.returncode == 0, up.stderr
    kubeconfig = up.stdout.strip()
    state = json.loads((data_dir / "state.json").read_text())
    pids = state["pids"]
    try:
        namespaces = subprocess.run(
            [
                str(cluster.bin_dir / "kubectl"),
                "--kubeconfig",
                kubeconfig,
                "get",
                "ns",
                "-o",
                "name",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert "namespace/kube-system" in namespaces
        status = subprocess.run(
            [*cli, "status", "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert status.returncode == 0 and json.loads(status.stdout)["ready"] is True
    finally:
        down = subprocess.run(
            [*cli, "down", "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    assert down.returncode == 0, down.stderr
    assert sorted(pids) == ["etcd", "kube-apiserver", "kube-controller-manager"]
    for name, pid in pids.items():
        assert (
            not Path(f"/proc/{pid}").exists()
            or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
        ), name
    assert not data_dir.exists()


def test_a_failed_start_names_the_process_and_leaves_nothing_running(
    cluster: local.Cluster, tmp_path: Path
) -> None:
    data_dir = tmp_path / "bad-flag"
    with pytest.raises(local.ControlPlaneError) as failed:
        local.start(data_dir, bin_dir=cluster.bin_dir, apiserver_args=("--no-such-flag",))
    message = str(failed.value)
    assert message.startswith("kube-apiserver exited during start-up (exit code 1)"), message
    assert "unknown flag: --no-such-flag" in message
    state = json.loads((data_dir / "state.json").read_text())
    assert sorted(state["pids"]) == ["etcd", "kube-apiserver"]
    for name, pid in state["pids"].items():
        assert not local.is_alive(pid), name
    assert (data_dir / "logs" / "kube-apiserver.log").is_file()  # kept for the reader


def test_a_start_whose_port_was_taken_starts_again_on_new_ports(
    cluster: local.Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race `free_port` leaves open, forced: the API server's port is taken before it binds."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        picks: list[int] = []
        real = local.free_port

        def pick() -> int:
            picks.append(port if not picks else real())  # the first pick is the API server's
            return picks[-1]

        monkeypatch.setattr(local, "free_port", pick)
        with local.running(tmp_path / "retried", bin_dir=cluster.bin_dir) as started:
            assert started.ready()
            assert started.server != f"https://127.0.0.1:{port}"
            log = (tmp_path / "retried" / "logs" / "kube-apiserver.log").read_text()
    assert len(picks) == 6  # three ports an attempt: the first attempt failed, the second started
    assert "address already in use" not in log  # the data directory is the new attempt's
