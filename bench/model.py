"""A sizing model: measured per-change and per-object costs, extrapolated (issue 17, item 3).

The benchmarks measure one controller on one 2-core machine at up to 1,000
SecretSyncs (10,000 with bench/scale.py's `scale.json`). A user sizing a
deployment asks another question: how many cores, how much memory per
replica, how long a cold start and how much API-server CPU for *their*
SecretSyncs, change rate and replica count, up to 100,000 SecretSyncs; and
from what point the API server, not secretloom, is what limits them. This
module answers with straight-line arithmetic on the measured unit costs, so
every number of its table can be recomputed by hand from the inputs printed
beside it. It runs nothing: `costs(results_dir)` reads the committed result
files, `size(costs, deployment)` is a pure function, bench/report.py renders
both as the "Sizing model" section of docs/benchmarks.md, and
`python -m bench.model --syncs N --rate R --replicas K` answers one question.

Inputs (`Costs`), each from the largest run that measured it:

* CPU per change, controller and kube-apiserver + etcd, at two operating
  points: the steady phase (20 changes/s) and the burst (1,000 updates at
  once, the highest rate measured) of propagation.json and burst.json at the
  largest one-target-per-SecretSync configuration (N = 1,000), or of
  scale.json (N = 10,000, schema in bench/scale.py's docstring) when it is
  there. Cores are a straight line through the two (`Line`): per change work
  batches at high rates, so a constant per-change cost would be either too
  high at saturation or too low at 20 changes/s.
* Memory: a least-squares line (`statistics.linear_regression`) through the
  controller's RSS at N = 1, 100, 1,000 (writes.json samples; one namespace
  each, nothing else in it) gives the fixed part and the part per SecretSync
  (its source and target cached with data, its status, its memory record);
  the footprint run (10,000 unrelated Secrets beside N = 1,000) minus that
  line gives the part per unrelated Secret (cached as a skeleton). With
  scale.json, its `bytes_per_unrelated_secret` and its baseline warm restart
  at 10,000 (less the floor's 20,000 Secrets it also caches) join them.
* Cold start: a line through the time from controller start to every
  SecretSync in sync at N = 1, 100, 1,000 (and 10,000), targets not yet
  written; the API-server CPU per SecretSync at cold start from scale.json,
  else two writes per SecretSync (target and status) at the burst cost.

Assumptions, `ASSUMPTIONS` (printed with the table, word for word): cost per
change constant in N and a straight line in the rate; fan-in of at most 10
SecretSyncs per target; one core per replica; sharding divides the change
rate evenly, not memory (every replica caches every namespace,
runtime/shards.py); the API-server figure includes the source change itself;
store polling excluded; cold start bounded below by the API server's work.

Hand-written: the arithmetic is a few multiplications and one regression from
the standard library; a queueing or simulation library would add assumptions
the measurements cannot back.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from bench import record
from bench.record import Json

COLD_WRITES_PER_SYNC = 2  # target apply + status, assumption 7
REPLICAS = (1, 2, 3, 5, 10)
RATES = (20.0, 200.0, 1000.0)
SYNCS = 100_000
SIZES = (1_000, 10_000, 100_000)
UNRELATED = 100_000
API_CORES = (2.0, 4.0, 8.0, 16.0)

ASSUMPTIONS = (
    "Cost per change does not depend on the number of SecretSyncs (the inputs show the "
    "steady-phase figure at every size measured) and CPU is a straight line in the change "
    "rate through the two measured operating points, steady (20 changes/s) and burst "
    "(saturated); below 20 changes/s it overstates (the controller idles at about 0 CPU).",
    "At most 10 SecretSyncs write into one target Secret; above that the API server's "
    "cost per apply grows with the field managers on the Secret and the model does not hold.",
    "One replica uses at most one core (one asyncio thread under the GIL): its ceiling is "
    "the rate at which its line reaches one core.",
    "Sharding (shards = replicas, namespaces of similar load) divides the change rate evenly "
    "over replicas, not memory: every replica caches every namespace.",
    "API-server + etcd CPU includes the change to the source itself and its watches. The "
    "reference machine had 2 cores for everything, API server included; its ceiling is the "
    "rate at which its line reaches the cores it is given.",
    "Store polling (Vault, AWS) is excluded: it costs about one provider read per distinct "
    "path or secret per refresh interval, whatever the number of SecretSyncs (the inputs "
    "show the measured figure), and no Kubernetes write when nothing changed; its "
    "controller CPU was not measured.",
    "Cold start: the per-SecretSync time divides over replicas, but not below the API "
    "server's CPU for every SecretSync's first reconcile on its cores (measured at 10,000 "
    f"when scale.json is in, else {COLD_WRITES_PER_SYNC} writes per SecretSync at the burst cost).",
)


@dataclass(frozen=True)
class Point:
    """One measured operating point: a change rate and the CPU per change at it."""

    changes_per_s: float
    controller_ms: float
    server_ms: float  # kube-apiserver + etcd


@dataclass(frozen=True)
class Costs:
    """Measured unit costs; `basis` names the run they come from."""

    basis: str
    steady: Point
    burst: Point  # saturated: the highest rate measured
    fixed_mb: float
    per_sync_kb: float
    per_unrelated_kb: float
    cold_fixed_s: float
    cold_per_sync_ms: float
    cold_server_ms_per_sync: float  # kube-apiserver + etcd CPU per SecretSync at cold start
    by_size: tuple[tuple[int, float], ...] = ()  # (SecretSyncs, controller ms/change, steady)
    # (store, provider reads per distinct value per refresh interval), from vault/aws.json
    polling: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Deployment:
    syncs: int
    changes_per_s: float
    replicas: int
    unrelated: int = 0  # Secrets in the watched namespaces that nothing references
    api_cores: float = 2.0  # cores the API server + etcd get (reference machine: 2)


@dataclass(frozen=True)
class Sizing:
    cores_per_replica: float
    controller_cores: float  # all replicas together
    memory_mb_per_replica: float
    server_cores: float  # kube-apiserver + etcd, for this write load
    cold_start_s: float
    controller_ceiling: float  # changes/s all replicas can take
    server_ceiling: float  # changes/s the API server can take
    bottleneck: str  # "secretloom" or "API server": the lower ceiling
    fits: bool  # the change rate is below both ceilings


@dataclass(frozen=True)
class Line:
    """Cores as a straight line in the change rate: `base + per_change * rate`."""

    base: float
    per_change: float  # core-seconds per change

    @classmethod
    def through(cls, a: Point, b: Point, *, server: bool) -> Line:
        ca, cb = (p.changes_per_s * (p.server_ms if server else p.controller_ms) / 1000
                  for p in (a, b))  # fmt: skip
        per_change = (cb - ca) / (b.changes_per_s - a.changes_per_s)
        return cls(ca - per_change * a.changes_per_s, per_change)

    def cores(self, rate: float) -> float:
        return self.base + self.per_change * rate

    def ceiling(self, cores: float) -> float:
        """The rate at which this line reaches `cores`."""
        return (cores - self.base) / self.per_change


def lines(costs: Costs) -> tuple[Line, Line]:
    """Cores of (one replica, the API server + etcd) as lines in the change rate."""
    return (Line.through(costs.steady, costs.burst, server=False),
            Line.through(costs.steady, costs.burst, server=True))  # fmt: skip


def size(costs: Costs, d: Deployment) -> Sizing:
    """What `d` needs, from `costs`: pure arithmetic, see the module docstring."""
    controller, server = lines(costs)
    per_replica = controller.cores(d.changes_per_s / d.replicas)
    controller_ceiling = d.replicas * controller.ceiling(1.0)
    server_ceiling = server.ceiling(d.api_cores)
    cold = costs.cold_per_sync_ms / 1000 * d.syncs / d.replicas
    api_floor = d.syncs * costs.cold_server_ms_per_sync / 1000 / d.api_cores
    return Sizing(
        cores_per_replica=per_replica,
        controller_cores=per_replica * d.replicas,
        memory_mb_per_replica=costs.fixed_mb
        + (d.syncs * costs.per_sync_kb + d.unrelated * costs.per_unrelated_kb) / 1000,
        server_cores=server.cores(d.changes_per_s),
        cold_start_s=costs.cold_fixed_s + max(cold, api_floor),
        controller_ceiling=controller_ceiling,
        server_ceiling=server_ceiling,
        bottleneck="API server" if server_ceiling < controller_ceiling else "secretloom",
        fits=d.changes_per_s <= min(controller_ceiling, server_ceiling),
    )


def replicas_until_api_bound(costs: Costs, api_cores: float) -> int:
    """The fewest replicas whose ceiling reaches the API server's: more add nothing."""
    controller, server = lines(costs)
    return max(1, math.ceil(server.ceiling(api_cores) / controller.ceiling(1.0)))


def line(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line through `points`."""
    xs, ys = zip(*points, strict=True)
    slope, intercept = statistics.linear_regression(xs, ys)
    return intercept, slope


def costs(out_dir: Path) -> Costs | None:
    """The unit costs from the result files in `out_dir`; None without two sizes to fit.

    scale.json (bench/scale.py, its docstring has the schema) replaces the
    N = 1,000 figures where it measured the same thing; `basis` says which.
    """
    loaded = {n: _load(out_dir, n) for n in ("propagation", "burst", "writes", "footprint")}
    propagation, burst, writes, footprint = loaded.values()
    if propagation is None or burst is None or writes is None or footprint is None:
        return None
    configs = {c["slug"]: c for c in propagation["parameters"]["configs"]}
    # one SecretSync per target: the fan-in configurations measure something else
    plain = {s: c["syncs"] for s, c in configs.items() if c["syncs"] == c["targets"]}
    if len(set(plain.values())) < 2:  # a smoke run: no line through one size
        return None
    largest = max(plain, key=plain.__getitem__)
    steady, fast = propagation["summary"][largest], burst["summary"][largest]
    ours = {s: writes["samples"][s]["secretloom"] for s in plain}
    rss = [(float(n), ours[s]["rss_mb"]) for s, n in plain.items()]
    cold = [(float(n), ours[s]["start_s"]) for s, n in plain.items()]
    fp = footprint["summary"]
    fixed, per_sync = line(rss)
    per_unrelated = (fp["start_rss_mb"] - fixed - per_sync * fp["syncs"]) / fp["unrelated"]
    measured = Costs(
        basis=f"N = {plain[largest]:,}: scale.json (the 10,000 run) is absent",
        steady=Point(propagation["parameters"]["rate"], steady["cpu_ms_per_change"],
                     steady["server_cpu_ms_per_change"]),
        burst=Point(fast["updates_per_s"], fast["cpu_ms_per_update"],
                    fast["server_cpu_ms_per_update"]),
        fixed_mb=fixed,
        per_sync_kb=per_sync * 1000,
        per_unrelated_kb=per_unrelated * 1000,
        cold_fixed_s=max(0.0, line(cold)[0]),  # the fit may dip below 0 (see _with_scale)
        cold_per_sync_ms=line(cold)[1] * 1000,
        cold_server_ms_per_sync=COLD_WRITES_PER_SYNC * fast["server_cpu_ms_per_update"],
        by_size=tuple(sorted((n, propagation["summary"][s]["cpu_ms_per_change"])
                             for s, n in plain.items())),
        polling=_polling(out_dir),
    )  # fmt: skip
    scale = _load(out_dir, "scale")
    if scale is None:
        return measured
    first = measured.basis.split(":")[0]
    try:
        if scale["summary"]["syncs"] <= plain[largest]:  # a development-size run
            syncs = scale["summary"]["syncs"]
            return replace(measured, basis=f"{first}: scale.json is of N = {syncs:,}, not used")
        return _with_scale(measured, scale, rss, cold)
    except (KeyError, TypeError, ZeroDivisionError):  # a failed or partial run: say so
        return replace(measured, basis=f"{first}: scale.json is incomplete")


def _with_scale(
    measured: Costs,
    scale: Json,
    rss: list[tuple[float, float]],
    cold: list[tuple[float, float]],
) -> Costs:
    """`measured`, with what the 10,000 run (bench/scale.py) measured in its place."""
    s, rate = scale["summary"], scale["parameters"]["rate"]
    ours = s["secretloom"]
    steady, fast, start = ours["steady"], ours["burst"], ours["cold_start"]

    def point(rate: float, phase: Json, unit: str) -> Point:
        server = phase[f"apiserver_cpu_s_per_{unit}"] + phase[f"etcd_cpu_s_per_{unit}"]
        return Point(rate, phase[f"cpu_s_per_{unit}"] * 1000, server * 1000)

    per_unrelated_mb = ours["bytes_per_unrelated_secret"] / 1e6
    # the baseline warm restart caches the floor's sources and targets too (skeletons)
    baseline = ours["warm_restart_baseline"]["rss_mb"] - 2 * s["syncs"] * per_unrelated_mb
    fixed, per_sync = line([*rss, (float(s["syncs"]), baseline)])
    cold_fixed, cold_per_sync = line([*cold, (float(s["syncs"]), start["seconds"])])
    return Costs(
        basis=f"N = {s['syncs']:,} (scale.json, {scale['date'][:10]})",
        steady=point(rate, steady, "change"),
        burst=point(fast["throughput_per_s"], fast, "change"),
        fixed_mb=fixed,
        per_sync_kb=per_sync * 1000,
        per_unrelated_kb=per_unrelated_mb * 1000,
        cold_fixed_s=max(0.0, cold_fixed),  # the fit may dip below 0; no start is negative
        cold_per_sync_ms=cold_per_sync * 1000,
        cold_server_ms_per_sync=point(0.0, start, "sync").server_ms,
        by_size=(*measured.by_size, (s["syncs"], steady["cpu_s_per_change"] * 1000)),
    )


def _polling(out_dir: Path) -> tuple[tuple[str, float], ...]:
    """Reads per distinct store value per refresh interval, measured at rest (assumption 6)."""
    found = []
    for name, store, count in (("vault", "Vault", "paths"), ("aws", "AWS", "secrets")):
        data = _load(out_dir, name)
        summary = (data or {}).get("summary", {})
        if data is None or summary.get("status") != "run" or not summary.get(count):
            continue
        interval_min = data["parameters"][f"{name}_refresh_s"] / 60
        found.append((store, summary["requests_per_min"] * interval_min / summary[count]))
    return tuple(found)


def _load(out_dir: Path, name: str) -> Json | None:
    path = out_dir / f"{name}.json"
    return record.load(path) if path.exists() else None


def main() -> None:
    """`python -m bench.model`: one sizing from the committed results, for your own numbers."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--syncs", type=int, default=SYNCS, help="SecretSyncs")
    parser.add_argument("--rate", type=float, default=RATES[0], help="source changes per second")
    parser.add_argument("--replicas", type=int, default=1, help="replicas (= shards)")
    parser.add_argument("--unrelated", type=int, default=UNRELATED, help="unreferenced Secrets")
    parser.add_argument("--api-cores", type=float, default=2.0, help="cores of API server + etcd")
    parser.add_argument("--results", type=Path, default=record.RESULTS)
    args = parser.parse_args()
    if min(args.syncs, args.replicas) < 1 or min(args.rate, args.unrelated) < 0:
        parser.error("--syncs and --replicas must be at least 1, --rate and --unrelated >= 0")
    if args.api_cores <= 0:
        parser.error("--api-cores must be positive")
    measured = costs(args.results)
    if measured is None:
        parser.error(f"no propagation/burst/writes/footprint results in {args.results}")
    d = Deployment(args.syncs, args.rate, args.replicas, args.unrelated, args.api_cores)
    print(f"costs measured at {measured.basis}")
    for name, value in asdict(size(measured, d)).items():
        print(f"{name:>24}: {round(value, 3) if isinstance(value, float) else value}")


if __name__ == "__main__":
    main()
