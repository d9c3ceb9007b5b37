"""The fan-in curve: W SecretSyncs writing one key each into ONE shared Secret (issue 17, item 0).

`python -m bench.fanin [--smoke]` starts a control plane of its own and, for
each W in `Params.writers`, runs four implementations one after the other
(never two at once: on two cores they would measure each other), each in a
namespace of its own with W sources feeding keys `k-i` of target `tgt-0000`
(bench/workload.py's layout with one target):

* **before**: `secretloom controller` with `Params.before_args`
  (`--aggregate-writers=0`: one field manager `secretloom/<ns>/<name>` per
  SecretSync, every change one apply carrying that manager's field set);
* **after**: the controller with `Params.after_args` (its defaults: W at or
  above the aggregation threshold share one manager per target and record
  the per-key owners in the annotation `secretloom.io/owners`);
* **coalescing floor**: `python -m bench.floor --coalesce` (one manager per
  target, one apply in flight, the next carries everything that changed);
* **per-key floor**: `python -m bench.floor` (one manager per source, every
  change one apply).

A controller without `--aggregate-writers` (before the aggregated mode landed)
runs "before" without arguments, which is the same behaviour, and "after" is
recorded as not run.

Load: `rate` changes a second for `duration_s`, each to a random writer, on an
absolute schedule. Sends are not held back until the previous change landed
(the issue's load generator was, and the API server's slowness showed up as
changes never sent: 218 of 400); only the sends to one source are kept in
order (one in flight per source), so the value a source ends with is the last
one sent. Each change records when it was due and when the update's response
came (`sent_at`); `planned` and `sent_in_window` (responses before the
window's end) say how far the generator kept up.

Propagation of a change: from its update's response to the first target
event (the API server's watch, in this process) whose key carries that value
or a later one of the same source; a change overtaken by a later one before
its target was written counts as delivered (coalesced, `superseded`), because
its effect is visible. Values carry a per-run sequence number so "later" is
exact. A change not delivered within `settle_s` after the last send is lost
(for the floors and "before" at W = 100 that is a backlog the API server had
not worked off when the process was stopped, not a dropped change).
Per run: target writes (watch events on the target), kube-apiserver + etcd
CPU-seconds over load and drain from /proc (scenarios.Meter), the target's
managedFields entries at the end, and the per-key owners: from the
`secretloom.io/owners` annotation when the target carries one, else from
managedFields via `secretloom owners`' own parser (cli/owners.py), counting
keys owned by exactly the right writer (the coalescing floor records none).

Results go to bench/results/fanin.json; `--smoke` runs tiny sizes into a
scratch directory.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import procs, record, workload
from bench.record import Json, Target, latency_summary, ratio
from bench.scenarios import Meter
from secretloom.api import admission
from secretloom.cli.owners import ownership
from secretloom.runtime import crds
from secretloom.runtime.kube import KubeClient, Obj
from secretloom.runtime.resources import SECRETS
from secretloom.testing import cluster as local

OWNERS_ANNOTATION = "secretloom.io/owners"
AGGREGATE_FLAG = "--aggregate-writers"
IMPLEMENTATIONS = ("before", "after", "coalesce", "floor")
P99_RATIO = 2.0


@dataclass(frozen=True)
class Params:
    writers: tuple[int, ...] = (1, 10, 30, 100)
    rate: float = 20.0  # changes per second, each to a random writer
    duration_s: float = 30.0
    settle_s: float = 45.0  # after the last send, for the backlog to land (15-min budget)
    workers: int = 4  # controller workers = floor workers
    qps: float = 0.0  # client-side rate limit of the process under test; 0 = off
    client_burst: int = 100
    before_args: tuple[str, ...] = (f"{AGGREGATE_FLAG}=0",)
    after_args: tuple[str, ...] = ()
    ready_timeout: float = 300.0
    seed: int = 17


SMOKE = Params(writers=(16,), duration_s=1.5, settle_s=20.0, ready_timeout=60.0)


@dataclass(slots=True)
class Change:
    key: str
    seq: int
    due_at: float
    sent_at: float | None = None
    seen_at: float | None = None
    exact: bool = False  # its own value was seen (not only a later one)


class FanInWatch(workload.TargetWatch):
    """TargetWatch that also settles every pending change a later value of its key overtook."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        super().__init__(kube, namespace)
        self.waiting: dict[str, deque[Change]] = {}  # key -> changes in send order

    def on_event(self, obj: Obj, now: float) -> None:
        super().on_event(obj, now)
        if obj["metadata"]["name"] == workload.SENTINEL:
            return
        for key, value in (obj.get("data") or {}).items():
            queue = self.waiting.get(key)
            seen = _seq(value)
            while queue and seen is not None and queue[0].seq <= seen:
                change = queue.popleft()
                change.seen_at, change.exact = now, change.seq == seen

    def track(self, change: Change) -> None:
        self.waiting.setdefault(change.key, deque()).append(change)

    @property
    def undelivered(self) -> int:
        return sum(len(queue) for queue in self.waiting.values())


def _seq(value: str) -> int | None:
    """The sequence number Sources.new_value stamps into a value (`<i>-<seq>-xxx`)."""
    try:
        return int(base64.b64decode(value).decode().split("-")[1])
    except (ValueError, IndexError, UnicodeDecodeError):
        return None


@dataclass
class Load:
    planned: int = 0
    sent: int = 0
    sent_in_window: int = 0
    window_s: float = 0.0
    send_lag_max_s: float = 0.0  # the latest response after its scheduled time
    delivered: int = 0
    superseded: int = 0  # delivered by a later value of the same key
    lost: int = 0
    samples_s: list[float] = field(default_factory=list)


async def drive(
    sources: workload.Sources, watch: FanInWatch, params: Params, rng: random.Random
) -> Load:
    """The scheduled load, then the drain (module docstring)."""
    layout, load = sources.layout, Load()
    in_order = [asyncio.Lock() for _ in range(layout.syncs)]  # one send in flight per source
    changes: list[Change] = []
    tasks: set[asyncio.Task[None]] = set()

    async def send(i: int, value: str, change: Change) -> None:
        async with in_order[i]:
            await sources.put(i, value=value)
            change.sent_at = time.perf_counter()

    start = time.perf_counter()
    end = start + params.duration_s
    for tick in range(int(params.rate * params.duration_s)):
        due = start + tick / params.rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        i = rng.randrange(layout.syncs)
        value = sources.new_value(i)
        change = Change(layout.key(i), _seq(value) or 0, due)
        watch.track(change)
        changes.append(change)
        task = asyncio.create_task(send(i, value, change))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    load.window_s = round(time.perf_counter() - start, 3)
    deadline = time.monotonic() + params.settle_s
    while watch.undelivered and time.monotonic() < deadline:
        try:
            await watch.changed(max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            break
    load.planned, load.sent = len(changes), sum(c.sent_at is not None for c in changes)
    load.sent_in_window = sum(c.sent_at is not None and c.sent_at <= end for c in changes)
    lags = [c.sent_at - c.due_at for c in changes if c.sent_at is not None]
    load.send_lag_max_s = round(max(lags, default=0.0), 3)
    load.delivered = sum(c.seen_at is not None for c in changes)
    load.superseded = sum(c.seen_at is not None and not c.exact for c in changes)
    load.lost = load.planned - load.delivered
    load.samples_s = [c.seen_at - c.sent_at for c in changes if c.seen_at and c.sent_at]
    return load


def aggregation_supported() -> bool:
    """Whether this checkout's controller has the aggregated write mode's flag."""
    done = subprocess.run(
        [sys.executable, "-m", "secretloom.cli", "controller", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    return AGGREGATE_FLAG in done.stdout


def owners_right(target: Obj, layout: workload.Layout, impl: str) -> int | None:
    """Keys whose recorded owner is their writer; None where no per-key owner is recorded."""
    if impl == "coalesce":
        return None
    ns, keys = layout.namespace, range(layout.syncs)
    sync = [str(layout.sync(i)["metadata"]["name"]) for i in keys]
    annotation = (target["metadata"].get("annotations") or {}).get(OWNERS_ANNOTATION)
    if annotation:
        owners: dict[str, str] = json.loads(annotation)
        return sum(owners.get(layout.key(i)) == sync[i] for i in keys)
    managers = ownership(target).keys
    manager = (
        [f"floor/{layout.source(i)}" for i in keys]
        if impl == "floor"
        else [f"secretloom/{ns}/{sync[i]}" for i in keys]
    )
    return sum(managers.get(layout.key(i)) == [manager[i]] for i in keys)


class FanIn:
    def __init__(
        self, kube: KubeClient, cp: local.Cluster, scratch: Path, params: Params, supported: bool
    ) -> None:
        self.kube, self.cp, self.scratch, self.params = kube, cp, scratch, params
        self.supported = supported  # the controller has the aggregated write mode's flag
        self.server_pids = procs.servers(cp)

    async def start(self, impl: str, layout: workload.Layout) -> procs.Process:
        p, log = self.params, self.scratch / f"{layout.namespace}.log"
        if impl in ("before", "after"):
            extra = p.before_args if impl == "before" else p.after_args
            if not self.supported:
                extra = ()  # today's controller: per-SecretSync managers, as "before"
            proc: procs.Process = await procs.Controller.start(
                self.cp.kubeconfig,
                [layout.namespace],
                log,
                workers=p.workers,
                qps=p.qps,
                burst=p.client_burst,
                extra=extra,
            )
            await workload.wait_synced(self.kube, layout, p.ready_timeout)
            return proc
        mapping = self.scratch / f"{layout.namespace}.json"
        mapping.write_text(json.dumps(layout.mapping()))
        coalesce = ("--coalesce",) if impl == "coalesce" else ()
        return await procs.FloorProcess.start(
            self.cp.kubeconfig,
            layout.namespace,
            mapping,
            log,
            workers=p.workers,
            qps=p.qps,
            burst=p.client_burst,
            extra=coalesce,
        )

    async def one(self, impl: str, writers: int) -> Json:
        layout = workload.Layout(f"fanin-{impl}-w{writers}", writers, 1)
        ours = impl in ("before", "after")
        sources = await workload.seed(self.kube, layout, syncs=ours)
        proc = await self.start(impl, layout)
        watch = FanInWatch(self.kube, layout.namespace)
        try:
            await watch.start()
            await watch.barrier()
            meter = Meter(proc, self.server_pids, watch, None, 0.0)
            load = await drive(sources, watch, self.params, random.Random(self.params.seed))
            phase = await meter.phase()
            target = await self.kube.get(SECRETS.path(layout.namespace, layout.target(0)))
        finally:
            await watch.stop()
            await proc.stop()
        data = target.get("data") or {}
        wrong = sum(data.get(layout.key(i)) != sources.current[i] for i in range(writers))
        server_cpu = phase.apiserver_cpu_s + phase.etcd_cpu_s
        return {
            "implementation": impl,
            "writers": writers,
            **{k: v for k, v in asdict(load).items() if k != "samples_s"},
            "wrong_at_end": wrong,
            "propagation": latency_summary(load.samples_s),
            "target_writes": phase.writes,
            "seconds": round(phase.seconds, 2),
            "process_cpu_s": round(phase.cpu_s, 2),
            "apiserver_cpu_s": round(phase.apiserver_cpu_s, 2),
            "etcd_cpu_s": round(phase.etcd_cpu_s, 2),
            "server_cpu_ms_per_write": (
                round(1000 * server_cpu / phase.writes, 2) if phase.writes else None
            ),
            "managed_fields": len(target["metadata"].get("managedFields") or []),
            "owners_right": owners_right(target, layout, impl),
            "owners_annotation": OWNERS_ANNOTATION in (target["metadata"].get("annotations") or {}),
            "samples_s": [round(x, 6) for x in load.samples_s],
        }


def _log(message: str) -> None:
    print(f"[fanin {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def measure(cp: local.Cluster, scratch: Path, params: Params) -> tuple[list[Json], Json]:
    runs: list[Json] = []
    async with KubeClient.from_kubeconfig(cp.kubeconfig, qps=0) as kube:
        await crds.install(kube, admission.bundle())
        versions = {"kube-apiserver": (await kube.get("/version")).get("gitVersion", "unknown")}
        supported = aggregation_supported()
        versions["aggregated write mode"] = "yes" if supported else f"no ({AGGREGATE_FLAG} absent)"
        bench = FanIn(kube, cp, scratch, params, supported)
        for writers in params.writers:
            for impl in IMPLEMENTATIONS:
                if impl == "after" and not supported:
                    continue
                run = await bench.one(impl, writers)
                runs.append(run)
                _log(
                    f"W={writers} {impl}: {run['sent_in_window']}/{run['planned']} sent on time, "
                    f"{run['lost']} lost, p99 {run['propagation']['p99_ms']} ms, "
                    f"{run['target_writes']} writes, {run['managed_fields']} managers"
                )
    return runs, versions


def targets(runs: list[Json], params: Params, supported: bool) -> list[Target]:
    top = max(params.writers)
    by = {(r["implementation"], r["writers"]): r for r in runs}
    ratio_name = f"fan-in W={top}: aggregated p99 / coalescing floor p99"
    owners_name = f"fan-in W={top}, aggregated: keys whose recorded owner is their SecretSync"
    lost_name = "fan-in, aggregated: changes lost or wrong at the end (every W)"
    after, floor = by.get(("after", top)), by.get(("coalesce", top))
    if after is None or floor is None:
        why = f"the controller has no {AGGREGATE_FLAG}" if not supported else "missing run"
        return [
            Target.not_run(ratio_name, "≤", P99_RATIO, "x", why),
            Target.not_run(lost_name, "=", 0, "", why),
            Target.not_run(owners_name, "=", top, "", why),
        ]
    ours = [r for r in runs if r["implementation"] == "after"]
    value = ratio(after["propagation"]["p99_ms"], floor["propagation"]["p99_ms"])
    return [
        Target.at_most(ratio_name, value, P99_RATIO, "x"),
        Target.exactly(lost_name, sum(r["lost"] + r["wrong_at_end"] for r in ours), 0, ""),
        Target.exactly(owners_name, after["owners_right"], top, ""),
    ]


def run(*, smoke: bool, out_dir: Path) -> Path:
    """The fan-in curve (or its smoke size); returns the result file written in `out_dir`."""
    started, machine = time.monotonic(), record.machine()
    params = SMOKE if smoke else Params()
    with (
        tempfile.TemporaryDirectory(prefix="bench-fanin-") as tmp,
        local.running(Path(tmp) / "cp", die_with_parent=True) as cp,
    ):
        runs, versions = asyncio.run(measure(cp, Path(tmp), params))
    supported = versions["aggregated write mode"] == "yes"
    samples = {f"{r['implementation']}-w{r['writers']}": r.pop("samples_s") for r in runs}
    return record.write(
        "fanin",
        out_dir=out_dir,
        machine_info=machine,
        versions=versions,
        parameters=asdict(params),
        samples=samples,
        summary={"runs": runs},
        targets=targets(runs, params, supported),
        started=started,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: the harness only")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench-fanin-")) if args.smoke else record.RESULTS
    print(run(smoke=args.smoke, out_dir=out).read_text()[:4000])
