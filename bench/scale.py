"""One replica at 10,000 SecretSyncs beside 100,000 unrelated Secrets, against the floor (issue 17).

`python -m bench --only scale` (or `python -m bench.scale [--size smoke|tenth]`)
starts its own control plane and seeds, once for both implementations:

* `namespaces` namespaces `scale-sl-<i>` for secretloom and as many
  `scale-floor-<i>` for the floor, each with bench/workload.py's Layout of
  `syncs_per_namespace` sources, one target each (one key per SecretSync);
* `unrelated` Secrets of `unrelated_bytes` bytes of data each that nothing
  references, spread evenly over all of those namespaces: half of them beside
  secretloom's SecretSyncs, half in the floor's namespaces, which are *other*
  namespaces to the controller. The controller runs cluster-wide (no
  `--namespaces`, the chart's default; `cluster_wide=False` scopes it to its
  own namespaces), so it sees all of them, plus the floor's sources and
  targets, which are unrelated to it too. The floor
  watches only its sources (a label selector), as it always does.

secretloom, all on the same control plane, in this order:

1. cold start: the controller starts with every object in place except the
   unrelated Secrets (created after step 2); time until every SecretSync is
   Ready, target and status writes (one target write per SecretSync is the
   right answer), CPU of the controller, kube-apiserver and etcd;
2. warm restart without the unrelated Secrets: the baseline RSS;
3. the unrelated Secrets are created (bulk, `create_concurrency` in flight);
4. warm restart with them: time to caches synced (`/readyz`), to every
   SecretSync reconciled (`/metrics`), target and status writes (must be 0),
   RSS. `bytes_per_unrelated_secret` = (RSS of 4 - RSS of 2) / `unrelated`,
   both read once every SecretSync is reconciled;
5. steady: `rate` changes/s for `steady_s`, spread over every namespace
   (rate / namespaces each) -> latency p50/p95/p99, target writes per change,
   CPU per change;
6. rest: `rest_s` without any change -> target writes (must be 0); it outlasts
   the 60 s within which the controller persists the source versions it
   deferred during the steady phase, so those status writes land here and
   not in the burst (as bench/scenarios.py waits `flush_s` before its burst);
7. burst: `burst` updates sent at once, spread over every namespace ->
   convergence time and throughput; then peak RSS (VmHWM).

The floor (bench/floor.py `--namespaces`, one process, as many workers): its
initial pass over every source (cold start), then the same steady and burst
phases with the same seeds. The two never run at the same time.

Each implementation's steady phase and burst start only once the control
plane is at rest (API server, etcd and controller-manager under `quiet_cores`
over `quiet_window_s`, `quiet_limit_s` at most: procs.quiet), and the API server's
periodic etcd compaction is off (NO_COMPACTION): background work of the
control plane lands in whichever phase runs then, and a run is compared with
itself.

Writes are counted from the API server's watch (one workload.TargetWatch per
namespace, one cluster-wide SecretSync watch), never from the controller's
metrics; every count is read after a barrier on every target watch.

`bench/results/scale.json` -> `summary` (read by bench/model.py):

    syncs, namespaces, unrelated, unrelated_bytes
    secretloom / floor:
      cold_start:  seconds, target_writes, status_writes (secretloom: every
                   SecretSync write the watch saw, finalizer and status),
                   cpu_s, apiserver_cpu_s, etcd_cpu_s, controller_manager_cpu_s,
                   bench_cpu_s (this process: load generator and watches),
                   machine_cpu_s (all of them)                   (the phase's totals)
                   cpu_s_per_sync, apiserver_cpu_s_per_sync, etcd_cpu_s_per_sync,
                   machine_cpu_s_per_sync
      steady:      changes, p50_ms, p95_ms, p99_ms, max_ms, target_writes,
                   writes_per_change, status_writes, seconds,
                   the same CPU totals and per-change shares as cold_start
      burst:       updates, sent_s, converged_s, throughput_per_s, unlanded,
                   target_writes, the same CPU totals and per-change shares
      steady and burst also: api_requests ("VERB resource": count, from the API
                   server's apiserver_request_total: every client, watches left
                   out, no-op requests counted) and api_requests_per_change
      rss_mb, peak_rss_mb                                   (after the burst)
      quiet:       steady, burst: waited_s, cores (the wait before each phase)
    secretloom only:
      warm_restart, warm_restart_baseline: caches_synced_s, all_reconciled_s,
                   target_writes, status_writes, rss_mb, cpu_s
      rest:        seconds, target_writes, status_writes
      bytes_per_unrelated_secret
    ratios: p99 (secretloom / floor), burst_throughput (secretloom / floor)

`samples`: the steady-phase latencies in seconds of each implementation.
`--size tenth` (10 x 100 SecretSyncs, 10,000 unrelated) is the development size;
the full size loads this 2-core machine for ~20 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from bench import procs, record, workload
from bench.record import Json
from bench.scenarios import Phase, Reading
from bench.workload import EventCount, Layout, Sources, TargetWatch
from secretloom.api import admission
from secretloom.runtime import crds
from secretloom.runtime.kube import KubeClient
from secretloom.runtime.resources import SECRET_SYNCS
from secretloom.testing import cluster as local

Profile = tuple[Path, Path]  # (py-spy, output directory)
# The API server compacts etcd every 5 minutes; with 100,000 Secrets one compaction
# costs the API server and etcd ~5 CPU-seconds, landing in whichever phase runs then
# (bench/notes.md, session 7). Off here, so neither implementation pays for it.
NO_COMPACTION = ("--etcd-compaction-interval=0",)


def _log(message: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass(frozen=True)
class Params:
    namespaces: int = 10
    syncs_per_namespace: int = 1000
    unrelated: int = 100_000
    unrelated_bytes: int = 2048
    create_concurrency: int = 64  # requests in flight while seeding
    rate: float = 20.0  # changes per second over all namespaces
    steady_s: float = 60.0
    rest_s: float = 65.0  # > the 60 s deferral of source versions (see phase 6)
    # 3,000 of the 10,000 sources, once each: a burst of 1,000 lasts ~4 s, and the API
    # server's own CPU per change then varied 3.4-5.9 ms between phases with the same
    # requests, for reasons not all found (bench/notes.md, session 7).
    burst: int = 3000
    burst_concurrency: int = 32
    workers: int = 4  # controller workers = floor workers
    cluster_wide: bool = True  # False: `--namespaces` of secretloom's namespaces only
    qps: float = 0.0
    client_burst: int = 100
    settle_s: float = 2.0
    quiet_cores: float = 0.15  # the control plane at rest uses ~0.03 (bench/notes.md, session 7)
    quiet_window_s: float = 5.0
    quiet_limit_s: float = 120.0
    ready_timeout: float = 900.0
    seed: int = 5

    @property
    def syncs(self) -> int:
        return self.namespaces * self.syncs_per_namespace


FULL = Params()
TENTH = replace(FULL, syncs_per_namespace=100, unrelated=10_000, burst=1000)
SMOKE = replace(
    FULL,
    namespaces=2,
    syncs_per_namespace=5,
    unrelated=40,
    steady_s=1.5,
    rest_s=0.5,
    burst=20,
    settle_s=0.3,
    quiet_window_s=1.0,
    quiet_limit_s=5.0,
    ready_timeout=120.0,
)
SIZES = {"full": FULL, "tenth": TENTH, "smoke": SMOKE}


class Watches:
    """Every namespace's TargetWatch (and the SecretSync watch), read as one counter."""

    def __init__(self, kube: KubeClient, layouts: Sequence[Layout], *, status: bool) -> None:
        self.targets = [TargetWatch(kube, layout.namespace) for layout in layouts]
        self.status = EventCount(kube, SECRET_SYNCS.path()) if status else None

    async def start(self) -> None:
        for watch in self.targets:
            await watch.start()
        if self.status is not None:
            await self.status.start()

    async def stop(self) -> None:
        for watch in (*self.targets, *([self.status] if self.status else [])):
            await watch.stop()

    async def barrier(self) -> None:
        await asyncio.gather(*(watch.barrier() for watch in self.targets))

    @property
    def writes(self) -> int:
        return sum(watch.count for watch in self.targets)

    @property
    def status_writes(self) -> int:
        return self.status.count if self.status else 0


class Meter:
    """Phase counters over many namespaces (bench/scenarios.py's Meter for one)."""

    def __init__(
        self, proc: procs.Process | None, servers: dict[str, int], watches: Watches, settle: float
    ) -> None:
        self.proc, self.servers, self.watches, self.settle = proc, servers, watches, settle
        self._mark = self._read()

    def _read(self) -> Reading:
        return (
            time.perf_counter(),
            self.proc.cpu_seconds() if self.proc else 0.0,
            procs.cpu_seconds(self.servers["kube-apiserver"]),
            procs.cpu_seconds(self.servers["etcd"]),
            self.watches.writes,
            self.watches.status_writes,
            procs.cpu_seconds(self.servers["kube-controller-manager"]),
            time.process_time(),
        )

    async def phase(self) -> Phase:
        await asyncio.sleep(self.settle)  # a late write (a status after its target) shows up
        await self.watches.barrier()
        if self.proc is not None:
            self.proc.check()
        now = self._read()
        before, self._mark = self._mark, now
        return Phase.between(before, now, status=bool(self.watches.status))


def _costs(phase: Phase, per: int, unit: str) -> Json:
    def each(value: float) -> float | None:
        return round(value / per, 6) if per else None

    return {
        "seconds": round(phase.seconds, 3),
        "target_writes": phase.writes,
        "status_writes": phase.status_writes,
        "cpu_s": round(phase.cpu_s, 3),
        "apiserver_cpu_s": round(phase.apiserver_cpu_s, 3),
        "etcd_cpu_s": round(phase.etcd_cpu_s, 3),
        "controller_manager_cpu_s": round(phase.controller_manager_cpu_s, 3),
        "bench_cpu_s": round(phase.bench_cpu_s, 3),
        "machine_cpu_s": round(phase.machine_cpu_s, 3),
        f"cpu_s_per_{unit}": each(phase.cpu_s),
        f"apiserver_cpu_s_per_{unit}": each(phase.apiserver_cpu_s),
        f"etcd_cpu_s_per_{unit}": each(phase.etcd_cpu_s),
        f"machine_cpu_s_per_{unit}": each(phase.machine_cpu_s),
    }


class Scale:
    def __init__(
        self, kube: KubeClient, cp: local.Cluster, scratch: Path, p: Params, profile: Profile | None
    ) -> None:
        self.kube, self.cp, self.scratch, self.p, self.profile = kube, cp, scratch, p, profile
        self.servers = procs.servers(cp)
        per = p.syncs_per_namespace
        self.ours = [Layout(f"scale-sl-{i}", per, per) for i in range(p.namespaces)]
        self.floors = [Layout(f"scale-floor-{i}", per, per) for i in range(p.namespaces)]
        self.sources: dict[str, Sources] = {}

    async def seed(self) -> None:
        p = self.p
        lanes = max(4, p.create_concurrency // (2 * p.namespaces))
        started = time.perf_counter()
        found = await asyncio.gather(
            *(
                workload.seed(self.kube, layout, syncs=layout in self.ours, concurrency=lanes)
                for layout in (*self.ours, *self.floors)
            )
        )
        self.sources = {s.layout.namespace: s for s in found}
        _log(f"seeded {2 * p.syncs} sources and targets in {time.perf_counter() - started:.0f}s")

    async def unrelated(self) -> float:
        p = self.p
        spaces = [layout.namespace for layout in (*self.ours, *self.floors)]
        lanes = max(4, p.create_concurrency // len(spaces))
        started = time.perf_counter()
        await asyncio.gather(
            *(
                workload.unrelated(
                    self.kube, ns, p.unrelated // len(spaces), p.unrelated_bytes, lanes
                )
                for ns in spaces
            )
        )
        seconds = time.perf_counter() - started
        _log(f"{p.unrelated} unrelated Secrets in {seconds:.0f}s")
        return seconds

    async def controller(self, label: str) -> procs.Controller:
        p = self.p
        proc = await procs.Controller.start(
            self.cp.kubeconfig,
            [] if p.cluster_wide else [layout.namespace for layout in self.ours],
            self.scratch / f"controller-{label}.log",
            workers=p.workers,
            qps=p.qps,
            burst=p.client_burst,
            timeout=p.ready_timeout,
        )
        if self.profile is not None:
            py_spy, out_dir = self.profile
            proc.profile(py_spy, out_dir / f"profile-scale-{label}.txt")
        return proc

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + self.p.ready_timeout
        pending = list(self.ours)
        while pending:
            left = max(1.0, deadline - time.monotonic())
            await workload.wait_synced(self.kube, pending[0], timeout=left)
            pending.pop(0)

    async def warm_restart(self, watches: Watches, label: str) -> tuple[Json, procs.Controller]:
        """Start the controller on up-to-date SecretSyncs; what it took and wrote. Still running."""
        meter = Meter(None, self.servers, watches, self.p.settle_s)
        proc = meter.proc = await self.controller(label)
        result: Json = {"caches_synced_s": round(time.perf_counter() - proc.started, 3)}
        while await proc.reconciles() < self.p.syncs:
            proc.check()
            await asyncio.sleep(0.05)
        result["all_reconciled_s"] = round(time.perf_counter() - proc.started, 3)
        result["rss_mb"] = round(proc.rss_bytes() / 1e6, 1)
        phase = await meter.phase()
        result |= {
            "target_writes": phase.writes,
            "status_writes": phase.status_writes,
            "cpu_s": round(phase.cpu_s, 3),
        }
        _log(f"warm restart ({label}): {result}")
        return result, proc

    async def _requests(self, before: Counter[str], changes: int, into: Json) -> Counter[str]:
        """API requests of the phase since `before` into `into`; the count now."""
        now = await procs.api_requests(self.cp)
        spent = now - before
        into["api_requests"] = dict(sorted(spent.items()))
        into["api_requests_per_change"] = round(spent.total() / changes, 3) if changes else None
        return now

    async def _quiet(self) -> Json:
        """Wait for the control plane to be at rest before a measured phase (procs.quiet)."""
        waited, cores = await procs.quiet(
            self.servers,
            busy=self.p.quiet_cores,
            window=self.p.quiet_window_s,
            limit=self.p.quiet_limit_s,
        )
        _log(f"control plane at {cores:.2f} cores after {waited:.0f}s")
        return {"waited_s": round(waited, 1), "cores": round(cores, 3)}

    async def load(self, proc: procs.Process, layouts: Sequence[Layout], out: Json) -> list[float]:
        """Steady and burst phases on a running implementation; its latencies (s)."""
        p = self.p
        watches = Watches(self.kube, layouts, status=proc.name == "controller")
        await watches.start()
        try:
            await watches.barrier()
            out["quiet"] = {"steady": await self._quiet(), "burst": None}
            meter = Meter(proc, self.servers, watches, p.settle_s)
            requests = await procs.api_requests(self.cp)
            runs = await asyncio.gather(
                *(
                    workload.steady(
                        self.sources[layout.namespace],
                        watch,
                        rate=p.rate / len(layouts),
                        duration=p.steady_s,
                        rng=random.Random(p.seed + i),
                    )
                    for i, (layout, watch) in enumerate(zip(layouts, watches.targets, strict=True))
                )
            )
            phase = await meter.phase()
            samples = [s for run in runs for s in run.samples_s]
            sent = sum(run.sent for run in runs)
            out["steady"] = {
                "changes": sent,
                "unlanded": sum(run.unlanded for run in runs),
                **{k: v for k, v in record.latency_summary(samples).items() if k != "count"},
                "writes_per_change": round(phase.writes / sent, 3) if sent else None,
                **_costs(phase, sent, "change"),
            }
            requests = await self._requests(requests, sent, out["steady"])
            _log(f"{proc.name} steady: {out['steady']}")
            if watches.status is not None:
                await asyncio.sleep(p.rest_s)
                rest = await meter.phase()
                requests = await procs.api_requests(self.cp)
                out["rest"] = {
                    "seconds": round(rest.seconds, 1),
                    "target_writes": rest.writes,
                    "status_writes": rest.status_writes,
                }
            share = max(1, p.burst // len(layouts))
            out["quiet"]["burst"] = await self._quiet()
            await meter.phase()  # the wait is no part of the burst
            requests = await procs.api_requests(self.cp)
            started = time.perf_counter()
            bursts = await asyncio.gather(
                *(
                    workload.burst(
                        self.sources[layout.namespace],
                        watch,
                        count=share,
                        concurrency=max(1, p.burst_concurrency // len(layouts)),
                    )
                    for layout, watch in zip(layouts, watches.targets, strict=True)
                )
            )
            sent_s = time.perf_counter() - started
            phase = await meter.phase()
            updates = share * len(layouts)
            ends = [b.converged_s for b in bursts]
            converged = None if None in ends else max(e for e in ends if e is not None)
            out["burst"] = {
                "updates": updates,
                "sent_s": round(sent_s, 3),
                "converged_s": round(converged, 3) if converged is not None else None,
                "throughput_per_s": round(updates / converged, 1) if converged else None,
                "unlanded": sum(b.unlanded for b in bursts),
                **_costs(phase, updates, "change"),
            }
            await self._requests(requests, updates, out["burst"])
            _log(f"{proc.name} burst: {out['burst']}")
            out["rss_mb"] = round(proc.rss_bytes() / 1e6, 1)
            out["peak_rss_mb"] = round(proc.peak_rss_bytes() / 1e6, 1)
            return samples
        finally:
            await watches.stop()

    async def secretloom(self) -> tuple[Json, list[float]]:
        p = self.p
        out: Json = {}
        watches = Watches(self.kube, self.ours, status=True)
        await watches.start()
        try:
            await watches.barrier()
            meter = Meter(None, self.servers, watches, p.settle_s)
            proc = meter.proc = await self.controller("cold")
            try:
                await self.wait_ready()
                out["cold_start"] = _costs(await meter.phase(), p.syncs, "sync")
                out["cold_start"]["seconds"] = round(time.perf_counter() - proc.started, 3)
                _log(f"cold start: {out['cold_start']}")
            finally:
                await proc.stop()
            out["warm_restart_baseline"], proc = await self.warm_restart(watches, "baseline")
            await proc.stop()
        finally:
            await watches.stop()
        out["unrelated_create_s"] = round(await self.unrelated(), 1)
        watches = Watches(self.kube, self.ours, status=True)
        await watches.start()
        try:
            await watches.barrier()
            out["warm_restart"], proc = await self.warm_restart(watches, "warm")
        finally:
            await watches.stop()
        try:
            grown = out["warm_restart"]["rss_mb"] - out["warm_restart_baseline"]["rss_mb"]
            out["bytes_per_unrelated_secret"] = (
                round(grown * 1e6 / p.unrelated) if p.unrelated else None
            )
            samples = await self.load(proc, self.ours, out)
        finally:
            await proc.stop()
        return out, samples

    async def floor(self) -> tuple[Json, list[float]]:
        p = self.p
        mapping = self.scratch / "mapping-scale.json"
        mapping.write_text(json.dumps(self.floors[0].mapping()))
        watches = Watches(self.kube, self.floors, status=False)
        await watches.start()
        out: Json = {}
        try:
            await watches.barrier()
            meter = Meter(None, self.servers, watches, p.settle_s)
            proc = meter.proc = await procs.FloorProcess.start(
                self.cp.kubeconfig,
                [layout.namespace for layout in self.floors],
                mapping,
                self.scratch / "floor-scale.log",
                workers=p.workers,
                qps=p.qps,
                burst=p.client_burst,
                timeout=p.ready_timeout,
            )
            ready_s = time.perf_counter() - proc.started
            out["cold_start"] = _costs(await meter.phase(), p.syncs, "sync")
            out["cold_start"]["seconds"] = round(ready_s, 3)
        finally:
            await watches.stop()
        try:
            samples = await self.load(proc, self.floors, out)
        finally:
            await proc.stop()
        return out, samples


async def measure(
    kube: KubeClient, cp: local.Cluster, scratch: Path, p: Params, profile: Profile | None
) -> tuple[Json, Json]:
    """(summary, samples)."""
    scale = Scale(kube, cp, scratch, p, profile)
    await scale.seed()
    ours, our_samples = await scale.secretloom()
    floor, floor_samples = await scale.floor()
    summary: Json = {
        "syncs": p.syncs,
        "namespaces": p.namespaces,
        "unrelated": p.unrelated,
        "unrelated_bytes": p.unrelated_bytes,
        "secretloom": ours,
        "floor": floor,
        "ratios": {
            "p99": record.ratio(ours["steady"]["p99_ms"], floor["steady"]["p99_ms"]),
            "burst_throughput": record.ratio(
                ours["burst"]["throughput_per_s"], floor["burst"]["throughput_per_s"]
            ),
        },
    }
    samples = {
        "secretloom_s": [round(s, 5) for s in our_samples],
        "floor_s": [round(s, 5) for s in floor_samples],
    }
    return summary, samples


def targets(summary: Json, p: Params) -> list[record.Target]:
    ours, ratios = summary["secretloom"], summary["ratios"]
    n = f"N={p.syncs:,}"
    warm = ours["warm_restart"]
    return [
        record.Target.at_most(f"{n}: propagation p99 vs floor", ratios["p99"], 1.5, "x"),
        record.Target.at_most(f"{n}: propagation p99", ours["steady"]["p99_ms"], 50, "ms"),
        record.Target.at_least(
            f"{n}: burst throughput vs floor", ratios["burst_throughput"], 1.0, "x"
        ),
        record.Target.exactly(
            f"{n}: target writes per change", ours["steady"]["writes_per_change"], 1, ""
        ),
        record.Target.exactly(f"{n}: target writes at rest", ours["rest"]["target_writes"], 0, ""),
        record.Target.exactly(
            f"{n}: writes on warm restart (target + status)",
            warm["target_writes"] + (warm["status_writes"] or 0),
            0,
            "",
        ),
        record.Target.at_most(
            f"{n}: peak RSS with {p.unrelated:,} unrelated Secrets", ours["peak_rss_mb"], 250, "MB"
        ),
    ]


async def _on_own_control_plane(p: Params, profile: Profile | None) -> tuple[Json, Json, Json]:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        scratch = Path(tmp)
        with local.running(
            scratch / "cp", die_with_parent=True, apiserver_args=NO_COMPACTION
        ) as cp:
            async with KubeClient.from_kubeconfig(cp.kubeconfig, qps=0) as kube:
                await crds.install(kube, admission.bundle())
                server = (await kube.get("/version")).get("gitVersion", "unknown")
                summary, samples = await measure(kube, cp, scratch, p, profile)
                return summary, samples, {"kube-apiserver": server}


def run(
    *, smoke: bool, out_dir: Path, profile: Profile | None = None, size: str | None = None
) -> Path:
    """The scale run (full, or `size`); returns the result file written in `out_dir`."""
    started, machine = time.monotonic(), record.machine()
    p = SIZES[size or ("smoke" if smoke else "full")]
    summary, samples, versions = asyncio.run(_on_own_control_plane(p, profile))
    return record.write(
        "scale",
        out_dir=out_dir,
        machine_info=machine,
        versions=versions,
        parameters=asdict(p),
        samples=samples,
        summary=summary,
        targets=targets(summary, p),
        started=started,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--out", type=Path, help="result directory (default: bench/results)")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy stacks into DIR")
    args = parser.parse_args(argv)
    profile = None
    if args.profile is not None:
        py_spy = shutil.which("py-spy")
        if py_spy is None:
            parser.error("--profile needs py-spy on PATH (pip install py-spy)")
        args.profile.mkdir(parents=True, exist_ok=True)
        profile = (Path(py_spy), args.profile)
    out_dir = args.out or (
        record.RESULTS if args.size == "full" else Path(tempfile.mkdtemp(prefix="bench-scale-"))
    )
    path = run(smoke=False, out_dir=out_dir, size=args.size, profile=profile)
    print(json.dumps(record.load(path)["summary"], indent=1))


if __name__ == "__main__":
    main()
