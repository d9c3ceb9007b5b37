"""`secretloom controller` as a process: namespaced mode on Roles only, operations endpoints, HA.

These run the real CLI in subprocesses, the way it is deployed, against the
real API server and its real RBAC authorizer.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path

import yaml

from secretloom.runtime.kube import KubeClient
from secretloom.runtime.resources import LEASES, NAMESPACES
from secretloom.testing import cluster as local
from secretloom.testing import controller
from tests.e2e import kit


def controller_process(
    kubeconfig: Path, log: Path, *args: str
) -> AbstractContextManager[tuple[subprocess.Popen[bytes], int]]:
    return controller.running(kubeconfig, log, "--json-logs", "--log-level", "debug", *args)


@asynccontextmanager
async def extra_namespaces(kube: KubeClient, count: int) -> AsyncIterator[list[str]]:
    names = [f"t-{uuid.uuid4().hex[:10]}" for _ in range(count)]
    for name in names:
        await kube.create(NAMESPACES.path(), {"metadata": {"name": name}})
    try:
        yield names
    finally:
        for name in names:
            await kube.delete(NAMESPACES.path(name=name))


async def bind_shipped_role(kube: KubeClient, repo_root: Path, namespace: str, user: str) -> None:
    """Apply deploy/rbac/role.yaml as shipped, bound to the non-admin user."""
    role, binding = yaml.safe_load_all((repo_root / "deploy/rbac/role.yaml").read_text())
    for obj in (role, binding):
        obj["metadata"]["namespace"] = namespace
    binding["subjects"] = [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]
    for obj, plural in ((role, "roles"), (binding, "rolebindings")):
        path = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/{plural}"
        await kube.apply(f"{path}/{obj['metadata']['name']}", obj, field_manager="test")


async def test_namespaced_mode_runs_on_roles_only(
    kube: KubeClient, cluster: local.Cluster, repo_root: Path, tmp_path: Path
) -> None:
    async with extra_namespaces(kube, 3) as (ns_a, ns_b, ns_other):
        for ns in (ns_a, ns_b):
            await bind_shipped_role(kube, repo_root, ns, local.NONADMIN_USER)
        for ns in (ns_a, ns_b, ns_other):
            await kit.put_secret(kube, ns, "src", {"token": ns}, manager="vso")
            await kit.apply_sync(
                kube, ns, "sync", kit.sync_spec("target", {"token": ("src", "token")})
            )
        log = tmp_path / "controller.log"
        with controller_process(
            cluster.user_kubeconfig, log, "--namespaces", f"{ns_a},{ns_b}", "--leader-elect"
        ) as (_, port):
            for ns in (ns_a, ns_b):
                await kit.wait_condition(kube, ns, "sync", "Ready", timeout=15)
                assert kit.values(await kit.get_secret(kube, ns, "target")) == {"token": ns}
            assert await kit.get_secret(kube, ns_other, "target") is None
            lease = await kube.get(LEASES.path(ns_a, "secretloom-controller"))
            assert lease["spec"]["holderIdentity"]

            assert controller.http_get(port, "/healthz") == "ok\n"
            exposition = controller.http_get(port, "/metrics")
            for name in (
                "secretloom_sync_total",
                "secretloom_target_writes_total",
                "secretloom_workqueue_depth",
                "secretloom_conflicts_total",
                "secretloom_reconcile_duration_seconds_bucket",
                "secretloom_sync_errors_total",
                "secretloom_propagation_seconds",
            ):
                assert name in exposition, name
            assert "secretloom_leader 1.0" in exposition
            assert 'secretloom_secretsync_condition{status="True",type="Ready"} 2.0' in exposition
            for ns in (ns_a, ns_b):
                where = f'condition="Ready",name="sync",namespace="{ns}"'
                assert f'secretloom_secretsync_status_condition{{{where},status="True"}} 1.0' in (
                    exposition
                )
                assert f'secretloom_secretsync_status_condition{{{where},status="False"}} 0.0' in (
                    exposition
                )
            assert f'namespace="{ns_other}"' not in exposition
        lines = [line for line in log.read_text().splitlines() if line.strip()]
        assert lines
        records = [json.loads(line) for line in lines]  # every line is one JSON object
        assert {"ts", "level", "logger", "msg"} <= set(records[0])
        assert not any(r["level"] == "error" for r in records), records


async def test_two_replicas_one_writer_and_takeover(
    kube: KubeClient, cluster: local.Cluster, namespace: str, tmp_path: Path
) -> None:
    await kit.put_secret(kube, namespace, "src", {"token": "v0"}, manager="vso")
    await kit.apply_sync(
        kube, namespace, "sync", kit.sync_spec("target", {"token": ("src", "token")})
    )
    ha = (
        "--namespaces",
        namespace,
        "--leader-elect",
        "--lease-duration",
        "3",
        "--renew-deadline",
        "2",
        "--retry-period",
        "0.5",
    )
    with (
        controller_process(
            cluster.kubeconfig, tmp_path / "a.log", *ha, "--identity", "replica-a"
        ) as (first, _),
        controller_process(
            cluster.kubeconfig, tmp_path / "b.log", *ha, "--identity", "replica-b"
        ) as (second, _),
    ):
        await kit.wait_condition(kube, namespace, "sync", "Ready", timeout=15)
        lease_path = LEASES.path(namespace, "secretloom-controller")
        holder = (await kube.get(lease_path))["spec"]["holderIdentity"]
        assert holder in ("replica-a", "replica-b")

        async with kit.TargetWatch(kube, namespace, "target") as watch:
            for i in range(1, 21):
                await kit.put_secret(kube, namespace, "src", {"token": f"v{i}"}, manager="vso")

                async def landed(i: int = i) -> bool:
                    return kit.values(await kit.get_secret(kube, namespace, "target")) == {
                        "token": f"v{i}"
                    }

                await kit.eventually(landed)
            await asyncio.sleep(1)
            assert len(watch.writes) == 20  # one writer: no duplicate writes

        leader, standby = (first, "replica-b") if holder == "replica-a" else (second, "replica-a")
        killed = time.monotonic()
        os.kill(leader.pid, signal.SIGKILL)

        async def taken_over() -> bool:
            return bool((await kube.get(lease_path))["spec"]["holderIdentity"] == standby)

        took = await kit.eventually(taken_over, timeout=15, interval=0.05)
        # Lease duration 3 s, plus at most two retry periods of observation (client-go's bound).
        assert time.monotonic() - killed <= 3 + 2 * 0.5 + 0.5, took
        await kit.put_secret(kube, namespace, "src", {"token": "after"}, manager="vso")

        async def resumed() -> bool:
            return kit.values(await kit.get_secret(kube, namespace, "target")) == {"token": "after"}

        await kit.eventually(resumed)
