"""What every benchmark result file holds, and the statistics behind its summaries.

A result is one JSON file per benchmark (`bench/results/<name>.json`) with the
same top-level shape, so the report generator and a reader's own scripts can
treat them alike:

* `machine`: the host and, honestly, how busy it was (load average at the
  start and the end of the run): numbers from a loaded 2-core machine are not
  the numbers of an idle one, and the report says which it was;
* `versions`: secretloom, Python, and whatever the benchmark ran against;
* `parameters`: every knob, including any phase that was shortened;
* `samples`: the raw measurements, so a summary can be recomputed or re-plotted;
* `summary`: derived fields (p50_ms, p99_ms, floor_p99_ms, p99_ratio, ...);
* `targets`: each stated target with the measured value and `met` as true,
  false, or null when the scenario did not run: a target that was not
  measured is never reported as met.

Percentiles interpolate linearly between order statistics (numpy's default),
so p99 of 1,200 samples is not just the 12th-largest value.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from secretloom import __version__ as secretloom_version

RESULTS = Path(__file__).parent / "results"
Json = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """One promise from the issue, judged against a measurement."""

    name: str
    value: float | None
    op: str  # "≤", "≥" or "="
    limit: float
    unit: str
    met: bool | None  # None: not measured (the scenario did not run)
    note: str = ""

    @classmethod
    def at_most(cls, name: str, value: float | None, limit: float, unit: str) -> Target:
        return cls(name, value, "≤", limit, unit, None if value is None else value <= limit)

    @classmethod
    def at_least(cls, name: str, value: float | None, limit: float, unit: str) -> Target:
        return cls(name, value, "≥", limit, unit, None if value is None else value >= limit)

    @classmethod
    def exactly(cls, name: str, value: float | None, limit: float, unit: str) -> Target:
        return cls(name, value, "=", limit, unit, None if value is None else value == limit)

    @classmethod
    def not_run(cls, name: str, op: str, limit: float, unit: str, why: str) -> Target:
        return cls(name, None, op, limit, unit, None, f"not run: {why}")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(samples_s: Sequence[float]) -> Json:
    """p50/p95/p99/max in milliseconds, and the count they come from."""
    return {
        "count": len(samples_s),
        **{
            f"p{q}_ms": round(percentile(samples_s, q) * 1000, 3) if samples_s else None
            for q in (50, 95, 99)
        },
        "max_ms": round(max(samples_s) * 1000, 3) if samples_s else None,
    }


def ratio(ours: float | None, floor: float | None) -> float | None:
    if ours is None or floor is None or floor == 0:
        return None
    return round(ours / floor, 3)


def machine() -> Json:
    memory_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }


def write(
    name: str,
    *,
    out_dir: Path,
    machine_info: Json,
    versions: Mapping[str, str],
    parameters: Mapping[str, Any],
    samples: Mapping[str, Any],
    summary: Mapping[str, Any],
    targets: Sequence[Target] = (),
    started: float | None = None,
) -> Path:
    """Write `<out_dir>/<name>.json`; returns its path."""
    result: Json = {
        "benchmark": name,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": round(time.monotonic() - started, 1) if started is not None else None,
        "machine": {**machine_info, "load_average_end": [round(x, 2) for x in os.getloadavg()]},
        "versions": {"secretloom": secretloom_version, **versions},
        "parameters": dict(parameters),
        "summary": dict(summary),
        "targets": [asdict(t) for t in targets],
        "samples": dict(samples),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


def load(path: Path) -> Json:
    data: Json = json.loads(path.read_text())
    return data
