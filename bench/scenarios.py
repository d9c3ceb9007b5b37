"""The cluster scenarios: secretloom and the floor, one after the other, on one control plane.

For each configuration (N SecretSyncs, N or fewer targets) both
implementations get a namespace of their own with identical sources and
target shells, and run the same phases with the same random seed:

1. start (secretloom: until every SecretSync is Ready; the floor: its initial
   pass), then open the target watch;
2. steady: `rate` changes/s for `steady_s` -> latency samples (scenario 1) and
   target writes per change (scenario 3);
3. secretloom only: `rest_s` with no change at all, then `noise` updates of an
   unreferenced source key -> writes at rest (scenario 3). The floor has no
   periodic work, so it is not asked;
4. burst: `burst` changes at once -> convergence time and throughput
   (scenario 2);
At each phase boundary (`Meter`) the CPU-seconds of the process under test,
of kube-apiserver and of etcd are read from /proc, and the target and status
writes counted from the watch, so every phase also says what a change cost
the API server. The two implementations never run at the same time: on a
2-core machine they would measure each other.

Scenario 4 runs on the N = 1,000 namespace afterwards: `unrelated` Secrets
are added beside it, the controller is started again with every SecretSync
already up to date (a warm restart: time to caches synced, time until it has
reconciled all N, target and status writes it made), then it idles and takes
a short steady load while its RSS is sampled.

Scenario 6 (noisy neighbours, bench/neighbours.py) measures a victim's latency
at rest and beside a tarpit store, on a controller of its own.

Scenarios 5 (Vault refresh) and 8 (AWS Secrets Manager refresh, on moto) run
only when the SecretStore kind exists in `secretloom.api.crd.RESOURCES`;
otherwise each is recorded as not run with the reason, and its targets as not
measured (bench/refresh.py).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import procs, workload
from bench.record import Json
from bench.workload import EventCount, Layout, Sources, TargetWatch
from secretloom.runtime.kube import KubeClient
from secretloom.runtime.resources import SECRET_SYNCS
from secretloom.testing import cluster as local

Log = Callable[[str], None]
# seconds, the process under test's CPU, the API server's, etcd's, target writes, status
# writes, the controller-manager's CPU, the benchmark's own (load generator and watches)
Reading = tuple[float, float, float, float, int, int, float, float]


@dataclass(frozen=True)
class Config:
    name: str
    slug: str
    syncs: int
    targets: int


@dataclass(frozen=True)
class Params:
    configs: tuple[Config, ...]
    rate: float = 20.0  # changes per second in the steady phase
    steady_s: float = 60.0
    rest_s: float = 60.0
    noise: int = 100
    burst: int = 1000
    burst_concurrency: int = 32  # updates in flight while the burst is sent
    unrelated: int = 10_000
    unrelated_bytes: int = 2048
    footprint_idle_s: float = 30.0
    footprint_load_s: float = 30.0
    workers: int = 4  # controller workers = floor workers
    qps: float = 0.0  # client-side rate limit of both processes; 0 = off
    client_burst: int = 100
    vault_syncs: int = 1000
    vault_paths: int = 100
    vault_refresh_s: float = 60.0
    vault_changes: int = 50
    dynamic_syncs: int = 1000  # scenario 8: SecretSyncs with one database lease each
    dynamic_ttl_s: int = 60  # the database role's default_ttl
    dynamic_max_ttl_s: int = 180  # and its max_ttl
    dynamic_grace_s: int = 5  # revokeGrace of every entry
    dynamic_run_s: float = 360.0  # measured window, after all are Ready (two max TTLs)
    dynamic_settle_s: float = 15.0  # after the grace, before a lease off every target is leaked
    aws_syncs: int = 1000  # scenario 8: SecretSyncs on AWS Secrets Manager (moto)
    aws_secrets: int = 100
    aws_refresh_s: float = 60.0
    aws_changes: int = 50
    neighbour_syncs: int = 10  # scenario 6: the victim's SecretSyncs (Kubernetes sources)
    neighbour_rate: float = 10.0
    neighbour_s: float = 30.0  # each of the two phases
    attackers: int = 4  # SecretSyncs on the tarpit store (= workers)
    trickle_s: float = 5.0  # the tarpit sends one byte this often
    headline: str = "n1000"  # the configuration the N = 1,000 targets are judged on
    settle_s: float = 2.0  # quiet time after changes before counting (a late write shows up)
    flush_s: float = 65.0  # the controller persists deferred source versions within 60 s
    ready_timeout: float = 300.0
    seed: int = 5

    def json(self) -> Json:
        return asdict(self)


FULL = Params(
    configs=(
        Config("N=1", "n1", 1, 1),
        Config("N=100", "n100", 100, 100),
        Config("N=1000", "n1000", 1000, 1000),
        Config("N=100 into 10 targets", "n100-t10", 100, 10),
    )
)
SMOKE = Params(
    configs=(Config("N=1", "n1", 1, 1), Config("N=8 into 2 targets", "n8-t2", 8, 2)),
    steady_s=1.5,
    rest_s=1.0,
    noise=5,
    burst=40,
    unrelated=50,
    footprint_idle_s=1.0,
    footprint_load_s=1.0,
    vault_syncs=4,
    vault_paths=2,
    vault_refresh_s=2.0,
    vault_changes=2,
    dynamic_syncs=4,
    dynamic_ttl_s=4,
    dynamic_max_ttl_s=10,
    dynamic_grace_s=1,
    dynamic_run_s=12.0,
    dynamic_settle_s=3.0,
    aws_syncs=4,
    aws_secrets=2,
    aws_refresh_s=2.0,
    aws_changes=2,
    neighbour_syncs=2,
    neighbour_s=1.5,
    trickle_s=1.0,
    headline="n8-t2",
    settle_s=0.3,
    flush_s=0.5,
    ready_timeout=60.0,
)


@dataclass
class Phase:
    """Counters over one phase: what the process and the API server spent, what was written."""

    seconds: float
    cpu_s: float  # the process under test
    apiserver_cpu_s: float
    etcd_cpu_s: float
    writes: int  # target writes, from the watch
    status_writes: int | None  # SecretSync writes, from the watch (secretloom only)
    # The rest of the machine, so a phase accounts for every CPU-second spent on it: the
    # controller-manager (its garbage collector watches every Secret) and the benchmark
    # process itself, which sends the changes and watches the targets.
    controller_manager_cpu_s: float = 0.0
    bench_cpu_s: float = 0.0

    @classmethod
    def between(cls, before: Reading, now: Reading, *, status: bool) -> Phase:
        """The phase from two readings (see `Reading`)."""
        return cls(
            seconds=now[0] - before[0],
            cpu_s=now[1] - before[1],
            apiserver_cpu_s=now[2] - before[2],
            etcd_cpu_s=now[3] - before[3],
            writes=now[4] - before[4],
            status_writes=now[5] - before[5] if status else None,
            controller_manager_cpu_s=now[6] - before[6],
            bench_cpu_s=now[7] - before[7],
        )

    @property
    def machine_cpu_s(self) -> float:
        """Every process on the machine that works for the phase, together."""
        return (
            self.cpu_s
            + self.apiserver_cpu_s
            + self.etcd_cpu_s
            + self.controller_manager_cpu_s
            + self.bench_cpu_s
        )


@dataclass
class Run:
    """What one implementation did in one configuration."""

    start_s: float = 0.0
    steady: workload.Steady = field(default_factory=workload.Steady)
    burst: workload.Burst = field(default_factory=workload.Burst)
    phases: dict[str, Phase] = field(default_factory=dict)  # start, steady, rest, noise, burst
    rss_mb: float = 0.0
    peak_rss_mb: float = 0.0

    def json(self) -> Json:
        return asdict(self)


class Meter:
    """Snapshots of every counter, so a phase is the difference of two."""

    def __init__(
        self,
        proc: procs.Process | None,  # None: not started yet, its first phase counts from 0
        server_pids: dict[str, int],
        watch: TargetWatch,
        status: EventCount | None,
        settle: float,
    ) -> None:
        self.proc, self.server_pids, self.watch, self.status = proc, server_pids, watch, status
        self.settle = settle
        self._mark = self._read()

    def _read(self) -> Reading:
        return (
            time.perf_counter(),
            self.proc.cpu_seconds() if self.proc else 0.0,
            procs.cpu_seconds(self.server_pids["kube-apiserver"]),
            procs.cpu_seconds(self.server_pids["etcd"]),
            self.watch.count,
            self.status.count if self.status else 0,
            procs.cpu_seconds(self.server_pids["kube-controller-manager"]),
            time.process_time(),
        )

    async def phase(self) -> Phase:
        """The phase since the last call (or creation); waits for its writes to be counted."""
        await self.watch.barrier()
        if self.status is not None:
            await asyncio.sleep(self.settle)  # a status write follows its target write
        if self.proc is not None:
            self.proc.check()
        now = self._read()
        before, self._mark = self._mark, now
        return Phase.between(before, now, status=self.status is not None)


class Bench:
    """Shared context: the admin client, where logs go, the parameters."""

    def __init__(
        self,
        kube: KubeClient,
        cluster: local.Cluster,
        scratch: Path,
        params: Params,
        log: Log,
        *,
        profile: tuple[Path, Path] | None = None,  # (py-spy, output dir): profile controllers
    ) -> None:
        self.kube = kube
        self.kubeconfig = cluster.kubeconfig
        self.server_pids = procs.servers(cluster)
        self.scratch = scratch
        self.params = params
        self.log = log
        self.profile = profile
        self.sources: dict[str, Sources] = {}  # namespace -> its sources, as last written

    async def controller(self, layout: Layout, label: str) -> procs.Controller:
        p = self.params
        proc = await procs.Controller.start(
            self.kubeconfig,
            [layout.namespace],
            self.scratch / f"controller-{label}.log",
            workers=p.workers,
            qps=p.qps,
            burst=p.client_burst,
        )
        if self.profile is not None:
            py_spy, out_dir = self.profile
            proc.profile(py_spy, out_dir / f"profile-{label}.txt")
        return proc

    async def floor(self, layout: Layout, label: str) -> procs.FloorProcess:
        p = self.params
        mapping = self.scratch / f"mapping-{label}.json"
        mapping.write_text(json.dumps(layout.mapping()))
        return await procs.FloorProcess.start(
            self.kubeconfig,
            layout.namespace,
            mapping,
            self.scratch / f"floor-{label}.log",
            workers=p.workers,
            qps=p.qps,
            burst=p.client_burst,
        )

    async def config(self, config: Config) -> tuple[Run, Run]:
        """Both implementations, one configuration."""
        ours = Layout(f"bench-sl-{config.slug}", config.syncs, config.targets)
        floor = Layout(f"bench-floor-{config.slug}", config.syncs, config.targets)
        self.log(f"{config.name}: seeding")
        for layout in (ours, floor):
            sources = await workload.seed(self.kube, layout, syncs=layout is ours)
            self.sources[layout.namespace] = sources
        return await self._run(config, ours, ours=True), await self._run(config, floor, ours=False)

    async def _run(self, config: Config, layout: Layout, *, ours: bool) -> Run:
        """Start one implementation, wait until it has converged, run the phases, stop it."""
        run = Run()
        started = time.perf_counter()
        proc: procs.Process
        if ours:
            proc = await self.controller(layout, config.slug)
        else:
            proc = await self.floor(layout, config.slug)  # ready = its initial pass is done
        try:
            if ours:
                await workload.wait_synced(self.kube, layout, self.params.ready_timeout)
            run.start_s = time.perf_counter() - started
            self.log(f"{layout.namespace}: converged in {run.start_s:.1f}s")
            await self._phases(run, proc, layout, self.sources[layout.namespace], rest=ours)
        finally:
            await proc.stop()
        return run

    async def _phases(
        self, run: Run, proc: procs.Process, layout: Layout, sources: Sources, *, rest: bool
    ) -> None:
        p = self.params
        watch = TargetWatch(self.kube, layout.namespace)
        status = EventCount(self.kube, SECRET_SYNCS.path(layout.namespace)) if rest else None
        await watch.start()
        if status is not None:
            await status.start()
        try:
            await watch.barrier()
            meter = Meter(proc, self.server_pids, watch, status, p.settle_s / 4)
            rng = random.Random(p.seed)
            run.steady = await workload.steady(
                sources, watch, rate=p.rate, duration=p.steady_s, rng=rng
            )
            run.phases["steady"] = steady = await meter.phase()
            self.log(
                f"{layout.namespace}: {run.steady.sent} changes at {p.rate:g}/s, "
                f"{steady.writes} target writes, {len(run.steady.samples_s)} samples"
            )
            if rest:
                await asyncio.sleep(p.rest_s)
                run.phases["rest"] = await meter.phase()
                await workload.noise(sources, count=p.noise, rng=rng)
                await asyncio.sleep(p.settle_s)
                run.phases["noise"] = await meter.phase()
            run.burst = await workload.burst(
                sources, watch, count=p.burst, concurrency=p.burst_concurrency
            )
            run.phases["burst"] = burst = await meter.phase()
            run.rss_mb = proc.rss_bytes() / 1e6
            run.peak_rss_mb = proc.peak_rss_bytes() / 1e6
            self.log(
                f"{layout.namespace}: burst of {p.burst} converged in "
                f"{_fmt_s(run.burst.converged_s)} with {burst.writes} target writes"
            )
        finally:
            await watch.stop()
            if status is not None:
                await status.stop()

    async def footprint(self, config: Config) -> Json:
        """Scenario 4: unrelated Secrets, warm restart with everything up to date, RSS, CPU."""
        p = self.params
        layout = Layout(f"bench-sl-{config.slug}", config.syncs, config.targets)
        self.log(f"footprint: creating {p.unrelated} unrelated Secrets")
        await workload.unrelated(self.kube, layout.namespace, p.unrelated, p.unrelated_bytes)
        watch = TargetWatch(self.kube, layout.namespace)
        status = EventCount(self.kube, SECRET_SYNCS.path(layout.namespace))
        await watch.start()
        await status.start()
        result: Json = {"syncs": config.syncs, "unrelated": p.unrelated}
        try:
            result["flushed_status_writes"] = await self._flush(layout, status)
            await watch.barrier()
            meter = Meter(None, self.server_pids, watch, status, p.settle_s / 4)
            proc = meter.proc = await self.controller(layout, "footprint")
            try:
                result["caches_synced_s"] = time.perf_counter() - proc.started
                while await proc.reconciles() < config.syncs:
                    proc.check()
                    await asyncio.sleep(0.05)
                result["all_reconciled_s"] = time.perf_counter() - proc.started
                await workload.wait_synced(self.kube, layout, p.ready_timeout)
                result["start_rss_mb"] = proc.rss_bytes() / 1e6
                await asyncio.sleep(p.settle_s)  # a late write would show up here
                result["warm_restart"] = asdict(await meter.phase())
                await asyncio.sleep(p.footprint_idle_s)
                result["idle"] = asdict(await meter.phase())
                result["idle_rss_mb"] = proc.rss_bytes() / 1e6
                result["load_from_s"] = time.perf_counter() - proc.started
                result["secretloom"] = await self._loaded(proc, layout)
                result["peak_rss_mb"] = proc.peak_rss_bytes() / 1e6
                result["status_writes_after_restart"] = (
                    status.count - result["flushed_status_writes"]
                )
                result["after_restart_s"] = time.perf_counter() - proc.started
                result["rss_samples"] = [(round(t, 2), b / 1e6) for t, b in proc.rss_samples]
            finally:
                await proc.stop()
        finally:
            await watch.stop()
            await status.stop()
        warm = result["warm_restart"]
        self.log(
            f"footprint: warm restart {result['all_reconciled_s']:.1f}s, "
            f"{warm['writes']} + {warm['status_writes']} writes, "
            f"peak RSS {result['peak_rss_mb']:.0f} MB"
        )
        floor_layout = Layout(f"bench-floor-{config.slug}", config.syncs, config.targets)
        floor = await self.floor(floor_layout, "footprint")
        try:
            result["floor"] = await self._loaded(floor, floor_layout)
            result["floor_peak_rss_mb"] = floor.peak_rss_bytes() / 1e6
        finally:
            await floor.stop()
        return result

    async def _flush(self, layout: Layout, status: EventCount) -> int:
        """Run the controller until every SecretSync's status is persisted; status writes made.

        The controller defers status writes that only record newer source versions
        (for up to `flush_s`) and a stopped controller loses what it deferred, so the
        controller of the last phase may have left versions unpersisted. The warm
        restart is measured on SecretSyncs that are up to date, status included.
        """
        p = self.params
        before = status.count
        proc = await self.controller(layout, "footprint-flush")
        try:
            await workload.wait_synced(self.kube, layout, p.ready_timeout)
            await asyncio.sleep(p.flush_s)
            while True:  # until a quiet settle period
                mark = status.count
                await asyncio.sleep(p.settle_s)
                if status.count == mark:
                    break
        finally:
            await proc.stop()
        self.log(f"footprint: {status.count - before} deferred status writes flushed")
        return status.count - before

    async def _loaded(self, proc: procs.Process, layout: Layout) -> Json:
        """RSS and CPU of `proc` under `footprint_load_s` of steady changes."""
        p = self.params
        sources = self.sources[layout.namespace]
        watch = TargetWatch(self.kube, layout.namespace)
        await watch.start()
        try:
            await watch.barrier()
            meter = Meter(proc, self.server_pids, watch, None, 0.0)
            steady = await workload.steady(
                sources, watch, rate=p.rate, duration=p.footprint_load_s, rng=random.Random(p.seed)
            )
            phase = await meter.phase()
        finally:
            await watch.stop()
        return {"changes": steady.sent, **asdict(phase), "rss_mb": proc.rss_bytes() / 1e6}


def _fmt_s(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.2f}s"
