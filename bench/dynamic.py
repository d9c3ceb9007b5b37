"""Scenario 8: dynamic database credentials, renewed and replaced on a short TTL (issue 14).

Issue 14 asks what 1,000 dynamic SecretSyncs cost: how many renewals and
re-issues a minute, how many OpenBao requests they cause, and whether the
leases stay one per SecretSync (none leaked, none duplicated). The components
are the real ones the e2e tests use: a PostgreSQL server
(`secretloom.testing.postgres`, installed by hack/install-postgres.sh) behind
OpenBao's database engine, with one role whose TTL is `dynamic_ttl_s` and max
TTL `dynamic_max_ttl_s` (the role of `tests.openbao.support.database_engine`).

`dynamic_syncs` SecretSyncs each hold one `spec.dynamic` entry on that role
(default `renewAtPercent`, `revokeGrace` of `dynamic_grace_s`), one target
each, one SecretStore with the root token. After all are Ready, for
`dynamic_run_s` seconds (a few TTLs, at least one max TTL), counted from
OpenBao's own audit log: `sys/leases/renew` requests (renewals), reads of
the role's `creds` path (re-issues), `sys/leases/revoke`, and every request;
target writes from the API server's watch; the CPU-seconds of the controller
and of OpenBao and the controller's RSS from /proc.

Leases at the end, from OpenBao (`LIST sys/leases/lookup/<mount>/creds/app`)
and the lease ids on the targets (the controller's own record,
`lease.secretloom.io/<SecretSync>.0`): **held** = distinct live leases that a
target names (must be N: every SecretSync has exactly one, none lost or
shared); a live lease no target names is either replaced and inside its
revoke grace, or leaked, so it is looked at again `dynamic_grace_s +
dynamic_settle_s` later: still live and still on no target, it is leaked
(must be 0).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.openbao.support import database_engine

from bench import procs, workload
from bench.record import Json, Target
from bench.scenarios import Bench
from bench.summarize import Result
from bench.workload import TargetWatch
from secretloom.api.crd import SECRET_STORE
from secretloom.controllers.secretsync.leases import annotation_key
from secretloom.runtime.resources import SECRET_STORES, SECRET_SYNCS, SECRETS
from secretloom.testing.openbao import OpenBaoServer
from secretloom.testing.postgres import PostgresServer

NAMESPACE, KV = "bench-dynamic", "secret"
HELD, LEAKED = "dynamic: live leases held by the SecretSyncs", "dynamic: leaked leases"


def _kv_mount(server: OpenBaoServer) -> None:
    """The store's KV mount (its `path`); the dynamic entries name their own path."""
    client = server.client()
    if f"{KV}/" not in client.sys.list_mounted_secrets_engines()["data"]:
        client.sys.enable_secrets_engine(backend_type="kv", path=KV, options={"version": "2"})


async def run(bench: Bench) -> Json:
    p = bench.params
    with (
        PostgresServer(die_with_parent=True) as postgres,
        OpenBaoServer(
            work_dir=bench.scratch / "openbao-dynamic", seed=_kv_mount, die_with_parent=True
        ) as bao,
    ):
        root = bao.client()
        mount = await asyncio.to_thread(
            database_engine, root, postgres, ttl=p.dynamic_ttl_s, max_ttl=p.dynamic_max_ttl_s
        )
        layout = workload.Layout(NAMESPACE, p.dynamic_syncs, p.dynamic_syncs)
        await workload.seed(bench.kube, layout, syncs=False)
        await bench.kube.apply(
            SECRETS.path(NAMESPACE, "bao-token"),
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "bao-token", "namespace": NAMESPACE},
                "data": {"token": workload.b64(bao.root_token)},
            },
            field_manager="bench",
        )
        vault = {
            "server": bao.address,
            "path": KV,
            "version": "v2",
            "auth": {"tokenSecretRef": {"name": "bao-token", "key": "token"}},
            "dynamicPaths": [f"{mount}/creds/app"],
        }
        await bench.kube.apply(
            SECRET_STORES.path(NAMESPACE, "bao"),
            {
                "apiVersion": SECRET_STORE.api_version,
                "kind": SECRET_STORE.kind,
                "metadata": {"name": "bao", "namespace": NAMESPACE},
                "spec": {"provider": {"vault": vault}},
            },
            field_manager="kubectl",
            force=True,
        )
        entry = {
            "store": {"name": "bao"},
            "path": f"{mount}/creds/app",
            "revokeGrace": f"{p.dynamic_grace_s}s",
        }

        def sync(i: int) -> Json:
            body = layout.sync(i)
            del body["spec"]["data"]
            body["spec"]["dynamic"] = [entry]
            return body

        await workload.bulk(
            [
                lambda i=i: bench.kube.apply(  # type: ignore[misc]
                    SECRET_SYNCS.path(NAMESPACE, f"sync-{i:04d}"), sync(i), field_manager="kubectl"
                )
                for i in range(p.dynamic_syncs)
            ],
            16,
        )
        return await _measure(bench, bao, root, mount, layout)


async def _measure(
    bench: Bench, bao: OpenBaoServer, root: Any, mount: str, layout: workload.Layout
) -> Json:
    p = bench.params
    started = time.monotonic()
    proc = await bench.controller(layout, "dynamic")
    watch = TargetWatch(bench.kube, NAMESPACE)
    result: Json = {"status": "run", "syncs": layout.syncs, "mount": mount}
    try:
        try:
            await workload.wait_synced(bench.kube, layout, p.ready_timeout)
        except TimeoutError as err:  # the controller could not do it: a result, not a crash
            bench.log(f"dynamic: failed: {err}")
            return {"status": f"failed: {err}", "syncs": layout.syncs}
        result["all_ready_s"] = time.monotonic() - started
        bench.log(f"dynamic: {layout.syncs} SecretSyncs Ready; {p.dynamic_run_s:g} s of leases")
        await watch.start()
        await watch.barrier()
        assert bao.pid is not None  # running: this is inside its `with`
        audit, writes, cpu = len(bao.audit_entries()), watch.count, proc.cpu_seconds()
        bao_cpu = procs.cpu_seconds(bao.pid)
        window_start = time.monotonic()
        await asyncio.sleep(p.dynamic_run_s)
        await watch.barrier()
        window = time.monotonic() - window_start
        requests = [e["request"] for e in bao.audit_entries()[audit:] if e.get("type") == "request"]
        result |= _requests(requests, f"{mount}/creds/app", window)
        result["target_writes"] = watch.count - writes
        result["controller_cpu_s"] = proc.cpu_seconds() - cpu
        result["openbao_cpu_s"] = procs.cpu_seconds(bao.pid) - bao_cpu
        result["controller_rss_mb"] = proc.rss_bytes() / 1e6
        result["controller_peak_rss_mb"] = proc.peak_rss_bytes() / 1e6
        result |= await _leases(bench, root, mount, layout)
    finally:
        await watch.stop()
        await proc.stop()
    return result


def _requests(requests: list[Json], creds: str, window: float) -> Json:
    def count(path: str) -> int:
        return sum(1 for r in requests if r.get("path") == path)

    renewals, reissues = count("sys/leases/renew"), count(creds)
    return {
        "window_s": window,
        "renewals": renewals,
        "reissues": reissues,
        "revokes": count("sys/leases/revoke"),
        "requests": len(requests),
    }


async def _leases(bench: Bench, root: Any, mount: str, layout: workload.Layout) -> Json:
    """Leases held (one per SecretSync), and those no target names after the grace: leaked."""
    p = bench.params
    on_targets = await _target_leases(bench, layout)
    live = await asyncio.to_thread(_live, root, mount)
    held = set(on_targets) & live
    unnamed = live - set(on_targets)
    await asyncio.sleep(p.dynamic_grace_s + p.dynamic_settle_s)
    later = await asyncio.to_thread(_live, root, mount)
    leaked = (unnamed & later) - set(await _target_leases(bench, layout))
    return {
        "live_leases": len(live),
        "held": len(held),
        "targets_without_live_lease": sum(1 for lease in on_targets if lease not in live),
        "shared_leases": len(on_targets) - len(set(on_targets)),
        "in_grace": len(unnamed) - len(leaked),
        "leaked": len(leaked),
        "live_leases_after_settle": len(later),
    }


async def _target_leases(bench: Bench, layout: workload.Layout) -> list[str]:
    """The lease each target names (its id's last segment, as OpenBao lists it)."""
    items, _ = await bench.kube.list(SECRETS.path(NAMESPACE))
    annotations = {
        item["metadata"]["name"]: item["metadata"].get("annotations") or {} for item in items
    }
    found = []
    for i in range(layout.syncs):
        lease = annotations.get(layout.target(i), {}).get(annotation_key(f"sync-{i:04d}", 0))
        if lease:
            found.append(lease.rsplit("/", 1)[-1])
    return found


def _live(root: Any, mount: str) -> set[str]:
    """Leases OpenBao holds under the role: issued, neither expired nor revoked."""
    try:
        found = root.adapter.request("LIST", f"/v1/sys/leases/lookup/{mount}/creds/app")
    except Exception:  # hvac's InvalidPath: no lease at all
        return set()
    return set(found["data"]["keys"])


def summarize(data: Json) -> Result:
    """Rates per minute, writes per re-issue, and the two lease targets."""
    status, syncs = str(data.get("status", "not run")), data.get("syncs", 0)
    if status != "run":
        return Result(
            summary=data,
            targets=[Target(HELD, None, "=", syncs, "leases", False, status),
                     Target(LEAKED, None, "=", 0, "leases", False, status)],
        )  # fmt: skip
    minutes = data["window_s"] / 60
    for name in ("renewals", "reissues", "revokes", "requests"):
        data[f"{name}_per_min"] = data[name] / minutes
    for name in ("controller_cpu_s", "openbao_cpu_s"):
        data[f"{name}_per_min"] = data[name] / minutes
    data["writes_per_reissue"] = (
        round(data["target_writes"] / data["reissues"], 3) if data["reissues"] else None
    )
    return Result(
        summary=data,
        targets=[
            Target.exactly(HELD, data["held"], syncs, "leases"),
            Target.exactly(LEAKED, data["leaked"], 0, "leases"),
        ],
    )
