"""`python -m bench [--smoke]`: every benchmark, its result files, and docs/benchmarks.md.

The full run (`make bench`) starts its own control plane, runs the cluster
scenarios (bench/scenarios.py, bench/vault.py, bench/neighbours.py, bench/dynamic.py,
bench/aws.py), the render
benchmark (bench/render.py), the unseal benchmark (bench/sealed.py), sharded
replicas with one killed (bench/shards.py), the fan-in curve (bench/fanin.py) and
one replica at 10,000 SecretSyncs (bench/scale.py), the last four each on a control
plane of its own, writes `bench/results/<name>.json` and regenerates
docs/benchmarks.md with its plots (bench/report.py).

`--smoke` (`make bench-smoke`, called by `make test`) runs every code path at
tiny sizes on a short-lived control plane of its own, writes its JSON and a
report into a scratch directory (never over the full results, never into
docs/), and prints where. It fails only when the harness breaks: a missed
target is a result, not an error. A smoke run's numbers mean nothing.

Either way the control plane, the controller, the floor and OpenBao are
children that die with this process (PR_SET_PDEATHSIG) and are stopped on the
way out, and so is moto (the AWS emulator of scenario 8).

`--only scenarios|vault|neighbours|dynamic|aws|render|sealed|shards|fanin|scale`
(repeatable) runs part of it and rewrites only that part's result files; the
report is rebuilt from whatever results exist, each with its own date and
conditions. `--profile DIR` attaches py-spy to every controller
(bench/profile.py summarises the stacks); a profiled run's numbers are not the
published ones.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import (
    aws,
    dynamic,
    fanin,
    neighbours,
    record,
    render,
    report,
    scale,
    sealed,
    shards,
    summarize,
    vault,
)
from bench.scenarios import FULL, SMOKE, Bench, Config, Params, Run
from secretloom.api import admission
from secretloom.runtime import crds
from secretloom.runtime.kube import KubeClient
from secretloom.testing import cluster as local

DOCS = Path(__file__).resolve().parents[1] / "docs"
PARTS = (
    "scenarios", "vault", "neighbours", "dynamic", "aws", "render", "sealed", "shards", "fanin",
    "scale",
)  # fmt: skip
CLUSTER_PARTS = {"scenarios", "vault", "neighbours", "dynamic", "aws"}


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _source() -> str:
    """Which secretloom was measured: its location, commit, and whether src/ was modified."""
    import secretloom

    where = Path(secretloom.__file__).resolve().parents[1]
    repo = Path(__file__).resolve().parents[1]
    git = ("git", "-C", str(repo))
    head = _first_line(*git, "rev-parse", "--short", "HEAD")
    if where != repo / "src":
        return f"imported from {where}, not from this checkout (at {head or 'unknown'})"
    state = "uncommitted changes in src/" if _first_line(*git, "status", "-s", "src") else "clean"
    return f"{head or 'unknown'} ({state})"


def _first_line(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return done.stdout.splitlines()[0].strip() if done.stdout.strip() else ""


async def _cluster(
    params: Params,
    scratch: Path,
    out_dir: Path,
    profile: tuple[Path, Path] | None,
    parts: set[str],
) -> None:
    """Scenarios 1-4 ("scenarios"), 5 ("vault"), 6 ("neighbours"), 8 ("dynamic"), 9 ("aws")."""
    started, machine = time.monotonic(), record.machine()
    results: dict[str, summarize.Result] = {}
    with local.running(scratch / "cp", die_with_parent=True) as cp:
        async with KubeClient.from_kubeconfig(cp.kubeconfig, qps=0) as kube:
            await crds.install(kube, admission.bundle())
            server = (await kube.get("/version")).get("gitVersion", "unknown")
            versions = {
                "kube-apiserver": server,
                "etcd": _first_line(str(cp.bin_dir / "etcd"), "--version").rsplit(" ", 1)[-1],
                "source": _source(),
            }
            bench = Bench(kube, cp, scratch, params, _log, profile=profile)
            if "scenarios" in parts:
                runs: dict[str, tuple[Config, Run, Run]] = {}
                for config in params.configs:
                    runs[config.slug] = (config, *await bench.config(config))
                headline = next(c for c in params.configs if c.slug == params.headline)
                footprint = await bench.footprint(headline)
                results |= {
                    "propagation": summarize.propagation(runs, params),
                    "burst": summarize.burst(runs),
                    "writes": summarize.writes(runs),
                    "footprint": summarize.footprint(footprint),
                }
            if "vault" in parts:
                results["vault"] = summarize.vault(await vault.run(bench))
            if "neighbours" in parts:
                results["neighbours"] = neighbours.summarize(await neighbours.run(bench))
            if "dynamic" in parts:
                results["dynamic"] = dynamic.summarize(await dynamic.run(bench))
            if "aws" in parts:
                results["aws"] = summarize.aws(await aws.run(bench), params)
    for name, result in results.items():
        record.write(
            name,
            out_dir=out_dir,
            machine_info=machine,
            versions=versions,
            parameters=params.json(),
            samples=result.samples,
            summary=result.summary,
            targets=result.targets,
            started=started,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="seconds-long run of every path")
    parser.add_argument(
        "--only",
        choices=PARTS,
        action="append",
        help="run only this part (repeatable); the other result files are left as they are",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="attach py-spy (on PATH) to every controller, raw stacks into DIR; "
        "the numbers of such a run are not clean",
    )
    args = parser.parse_args()
    profile = None
    if args.profile is not None:
        py_spy = shutil.which("py-spy")
        if py_spy is None:
            parser.error("--profile needs py-spy on PATH (pip install py-spy)")
        args.profile.mkdir(parents=True, exist_ok=True)
        profile = (Path(py_spy), args.profile)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="secretloom-bench-") as scratch:
        if args.smoke:
            out_dir = Path(tempfile.mkdtemp(prefix="secretloom-bench-smoke-"))
            docs, images = out_dir / "benchmarks.md", out_dir / "img"
        else:
            out_dir, docs, images = record.RESULTS, DOCS / "benchmarks.md", DOCS / "img"
        parts = set(args.only or PARTS)
        if parts & CLUSTER_PARTS:
            params = SMOKE if args.smoke else FULL
            asyncio.run(_cluster(params, Path(scratch), out_dir, profile, parts))
        if "render" in parts:
            _log("render benchmark")
            render.run(smoke=args.smoke, out_dir=out_dir)
        if "sealed" in parts:
            _log("sealed benchmark")
            sealed.run(smoke=args.smoke, out_dir=out_dir)
        if "shards" in parts:
            _log("sharded replicas, one killed")
            shards.run(smoke=args.smoke, out_dir=out_dir)
        if "fanin" in parts:
            _log("fan-in: many SecretSyncs into one Secret")
            fanin.run(smoke=args.smoke, out_dir=out_dir)
        if "scale" in parts:
            _log("one replica at 10,000 SecretSyncs and 100,000 unrelated Secrets")
            scale.run(smoke=args.smoke, out_dir=out_dir, profile=profile)
    report.write(out_dir, docs, images)
    print(report.targets_table(out_dir))
    print(f"\nresults in {out_dir}, report {docs} ({time.monotonic() - started:.0f}s)")


if __name__ == "__main__":
    main()
