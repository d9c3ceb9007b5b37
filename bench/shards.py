"""Sharded churn: replicas on shard Leases, one killed with SIGKILL mid-load (issue 17).

`python -m bench.shards [--smoke]` starts its own control plane and R
`secretloom controller --shards S` replicas over `namespaces` namespaces
(chosen so every shard gets the same number), each namespace holding
`syncs_per_namespace` SecretSyncs into targets shared by ten writers each
(bench/workload.py's layout). Changes arrive at `rate` per second across all
namespaces; at half time the replica holding the most shards is killed.

Measured from the API server, in this process:

* takeover: SIGKILL -> every shard Lease held by a live replica again
  (polled every 20 ms);
* lost: changes whose value never reached its target once the load stopped
  (the `steady` phase's settle, 60 s);
* duplicated: target writes beyond one per change, counted from the targets'
  watch at a barrier (every change is effective, so exactly one write each is
  the right answer; a second replica writing the same change would add one);
* propagation p50/p99 over the whole run, and the worst latency of any
  change: that of a change caught by the kill, i.e. the convergence time.

Stated with each run (bench/record.py): the machine's load average at start
and end, since this shares the machine with whatever else runs. Part
`shards` of `python -m bench`; `python -m bench.shards [--smoke]` runs it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import record, workload
from bench.procs import Controller
from secretloom.api import admission
from secretloom.runtime import crds
from secretloom.runtime.kube import ApiError, KubeClient
from secretloom.runtime.resources import LEASES, NAMESPACES
from secretloom.runtime.shards import shard_of
from secretloom.testing import cluster as local

LEASE_NAMESPACE = "bench-leases"
LEASE_DURATION, RETRY_PERIOD = 3.0, 0.5
LEASE_ARGS = (
    f"--lease-duration={LEASE_DURATION}",
    "--renew-deadline=2",
    f"--retry-period={RETRY_PERIOD}",
)


@dataclass(frozen=True)
class Params:
    replicas: int = 3
    shards: int = 3
    namespaces: int = 6
    syncs_per_namespace: int = 100
    rate: float = 30.0  # changes per second, over all namespaces
    duration_s: float = 40.0


SMOKE = Params(replicas=2, shards=2, namespaces=2, syncs_per_namespace=10, rate=5, duration_s=12)


@dataclass
class Outcome:
    params: Params
    sent: int = 0
    lost: int = 0
    writes: int = 0
    duplicated: int = 0
    takeover_s: float | None = None
    convergence_s: float | None = None  # the worst latency of any change (the killed ones')
    propagation_ms: dict[str, float] = field(default_factory=dict)
    held_before: dict[str, int] = field(default_factory=dict)
    exited_before: list[str] = field(default_factory=list)  # replicas that stopped on their own
    machine: dict[str, object] = field(default_factory=dict)


def balanced_namespaces(count: int, shards: int) -> list[str]:
    """`count` fresh names, the same number hashing to each shard."""
    per = count // shards
    buckets: list[list[str]] = [[] for _ in range(shards)]
    while any(len(b) < per for b in buckets):
        name = f"shard-bench-{uuid.uuid4().hex[:8]}"
        bucket = buckets[shard_of(name, shards)]
        if len(bucket) < per:
            bucket.append(name)
    return [name for bucket in buckets for name in bucket]


async def holders(kube: KubeClient, shards: int) -> list[str]:
    found = []
    for i in range(shards):
        try:
            lease = await kube.get(LEASES.path(LEASE_NAMESPACE, f"secretloom-controller-shard-{i}"))
            found.append(lease["spec"].get("holderIdentity") or "")
        except ApiError:
            found.append("")
    return found


def percentiles(samples: list[float]) -> dict[str, float]:
    if len(samples) < 2:
        return {}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": round(cuts[49] * 1000, 1), "p99": round(cuts[98] * 1000, 1)}


async def measure(kube: KubeClient, cp: local.Cluster, scratch: Path, p: Params) -> Outcome:
    outcome = Outcome(p, machine=record.machine())
    await kube.create(NAMESPACES.path(), {"metadata": {"name": LEASE_NAMESPACE}})
    spaces = balanced_namespaces(p.namespaces, p.shards)
    layouts = [
        workload.Layout(ns, p.syncs_per_namespace, p.syncs_per_namespace // 10) for ns in spaces
    ]
    sources = [await workload.seed(kube, layout, syncs=True) for layout in layouts]
    replicas = {}
    for r in range(p.replicas):
        identity = f"replica-{r}"
        replicas[identity] = await Controller.start(
            cp.kubeconfig,
            spaces,
            scratch / f"{identity}.log",
            workers=4,
            qps=200,
            burst=400,
            extra=(f"--shards={p.shards}", f"--lease-namespace={LEASE_NAMESPACE}",
                   f"--identity={identity}", *LEASE_ARGS),
        )  # fmt: skip
    for layout in layouts:
        await workload.wait_synced(kube, layout, timeout=300)
    deadline = time.monotonic() + 60
    while len(set(await holders(kube, p.shards)) - {""}) < min(p.replicas, p.shards):
        if time.monotonic() > deadline:
            raise TimeoutError(f"shards not spread: {await holders(kube, p.shards)}")
        await asyncio.sleep(0.2)
    watches = [workload.TargetWatch(kube, ns) for ns in spaces]
    for watch in watches:
        await watch.start()
        await watch.barrier()
    base = [watch.count for watch in watches]

    kill_at = time.perf_counter() + p.duration_s / 2
    takeover: dict[str, float] = {}

    async def kill() -> None:
        await asyncio.sleep(max(0.0, kill_at - time.perf_counter()))
        held = await holders(kube, p.shards)
        outcome.held_before = {name: held.count(name) for name in replicas}
        outcome.exited_before = sorted(n for n, r in replicas.items() if not r.alive())
        victim = max(replicas, key=held.count)
        os.kill(replicas[victim].pid, signal.SIGKILL)
        takeover["killed"] = time.perf_counter()
        live = set(replicas) - {victim}
        while not all(h in live for h in await holders(kube, p.shards)):
            await asyncio.sleep(0.02)
        takeover["done"] = time.perf_counter()

    rng = random.Random(17)
    killer = asyncio.create_task(kill())
    runs = await asyncio.gather(
        *(
            workload.steady(
                s, w, rate=p.rate / len(spaces), duration=p.duration_s, rng=rng, settle=60
            )
            for s, w in zip(sources, watches, strict=True)
        )
    )
    await killer
    for watch in watches:
        await watch.barrier()
    outcome.sent = sum(run.sent for run in runs)
    outcome.lost = sum(run.unlanded for run in runs)
    outcome.writes = sum(w.count - b for w, b in zip(watches, base, strict=True))
    outcome.duplicated = max(0, outcome.writes - (outcome.sent - outcome.lost))
    killed, done = takeover["killed"], takeover["done"]
    outcome.takeover_s = round(done - killed, 2)
    samples = [sample for run in runs for sample in run.samples_s]
    outcome.propagation_ms = percentiles(samples)
    outcome.convergence_s = round(max(samples), 2) if samples else None
    for watch in watches:
        await watch.stop()
    for replica in replicas.values():
        await replica.stop()
    return outcome


async def _measure_on_own_control_plane(params: Params) -> tuple[Outcome, dict[str, str]]:
    with tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        scratch = Path(tmp)
        with local.running(scratch / "cp", die_with_parent=True) as cp:
            async with KubeClient.from_kubeconfig(cp.kubeconfig, qps=0) as kube:
                await crds.install(kube, admission.bundle())
                server = (await kube.get("/version")).get("gitVersion", "unknown")
                return await measure(kube, cp, scratch, params), {"kube-apiserver": server}


def run(*, smoke: bool, out_dir: Path) -> Path:
    """The sharded run (or its smoke size); returns the result file written in `out_dir`."""
    started = time.monotonic()
    params = SMOKE if smoke else Params()
    outcome, versions = asyncio.run(_measure_on_own_control_plane(params))
    bound = LEASE_DURATION + 2 * RETRY_PERIOD
    summary = asdict(outcome)
    machine = summary.pop("machine")
    summary.pop("params")
    return record.write(
        "shards",
        out_dir=out_dir,
        machine_info=machine,
        versions=versions,
        parameters=asdict(params) | {"lease_duration_s": LEASE_DURATION, "retry_s": RETRY_PERIOD},
        samples={},
        summary=summary,
        targets=[
            record.Target.exactly("sharded, one replica killed: lost changes", outcome.lost, 0, ""),
            record.Target.exactly(
                "sharded, one replica killed: duplicated writes", outcome.duplicated, 0, ""
            ),
            record.Target.at_most(
                "sharded: takeover after SIGKILL (lease + 2 retry periods)",
                outcome.takeover_s,
                bound,
                "s",
            ),
        ],
        started=started,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: the harness only")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench-shards-")) if args.smoke else record.RESULTS
    print(run(smoke=args.smoke, out_dir=out).read_text())
