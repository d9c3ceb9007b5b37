"""docs/benchmarks.md and its plots, regenerated from the result files alone.

`python -m bench.report` rebuilds the page from `bench/results/*.json` without
running anything (e.g. after editing bench/notes.md); `python -m bench` calls
`write` at the end of a run. Everything on the page comes from the JSON,
including the conditions it was measured under, so the page cannot claim more
than the run showed. Each target is shown as met, MISSED, or not run: a miss
is never left out and a scenario that did not run is never counted as met.

Hand-written analysis (profiles, what a miss is caused by, what would fix it)
lives in bench/notes.md and is included verbatim, so regenerating the numbers
never erases it.

Plots are PNGs drawn with matplotlib's Agg backend (no display needed): a
latency CDF per configuration (secretloom against the floor, log scale, the
50 ms target marked), burst throughput and CPU per change side by side, and
the controller's RSS over the footprint run against the 150 MB target.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench import model, record
from bench.record import Json

NOTES = Path(__file__).parent / "notes.md"
DOCS = Path(__file__).resolve().parents[1] / "docs"
COLORS = {"secretloom": "#1f6feb", "floor": "#8b949e"}


def _load(out_dir: Path, name: str) -> Json | None:
    path = out_dir / f"{name}.json"
    return record.load(path) if path.exists() else None


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "") -> str:
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**MISSED**", None: "not run"}[met]


def targets(out_dir: Path) -> list[Json]:
    found: list[Json] = []
    names = ("propagation", "burst", "writes", "footprint", "vault", "neighbours", "dynamic")
    for name in (*names, "aws", "shards", "fanin", "scale", "chaos"):
        data = _load(out_dir, name)
        found += data["targets"] if data else []
    return found


def targets_table(out_dir: Path) -> str:
    rows = [
        (
            t["name"],
            f"{_fmt(t['value'], 3)} {t['unit']}" if t["value"] is not None else t["note"] or "–",
            f"{t['op']} {_fmt(t['limit'])} {t['unit']}",
            _verdict(t["met"]),
        )
        for t in targets(out_dir)
    ]
    return _table(("target", "measured", "limit", "verdict"), rows, "lrrl")


def _plot_latency(data: Json, path: Path) -> None:
    slugs = list(data["summary"])
    cols = min(2, len(slugs))
    rows = -(-len(slugs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(slugs) :]:
        ax.set_visible(False)
    for ax, slug in zip(axes.flat, slugs, strict=False):
        samples = data["samples"][slug]
        for who, key in (("secretloom", "secretloom_s"), ("floor", "floor_s")):
            ms = sorted(max(s * 1000, 0.1) for s in samples[key])
            if ms:
                ax.step(
                    ms,
                    [(i + 1) / len(ms) for i in range(len(ms))],
                    where="post",
                    color=COLORS[who],
                    label=f"{who} (p99 {record.percentile(ms, 99):.1f} ms)",
                )
        ax.axvline(50, color="#d1242f", linestyle=":", linewidth=1, label="50 ms target")
        ax.set_xscale("log")
        ax.set_title(data["summary"][slug]["name"])
        ax.set_xlabel("source update -> target event (ms)")
        ax.set_ylim(0, 1.01)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for row in axes:
        row[0].set_ylabel("fraction of changes")
    fig.suptitle("Propagation latency, 20 changes/s (CDF)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


FANIN_LABELS = {
    "before": "secretloom, one manager per SecretSync",
    "after": "secretloom, aggregated",
    "coalesce": "coalescing floor",
    "floor": "per-key floor",
}
FANIN_COLORS = {"before": "#9a6700", "after": COLORS["secretloom"], "coalesce": "#1a7f37"}


def _plot_fanin(data: Json, path: Path) -> None:
    """p99 and API-server CPU per write against W, one line per implementation."""
    fig, (lat, cpu) = plt.subplots(1, 2, figsize=(10.4, 3.6))
    for impl, label in FANIN_LABELS.items():
        runs = [r for r in data["summary"]["runs"] if r["implementation"] == impl]
        if not runs:
            continue
        writers = [r["writers"] for r in runs]
        color = FANIN_COLORS.get(impl, COLORS["floor"])
        p99 = [r["propagation"]["p99_ms"] for r in runs]
        lat.plot(writers, p99, marker="o", color=color, label=label)
        per_write = [r["server_cpu_ms_per_write"] for r in runs]
        cpu.plot(writers, per_write, marker="o", color=color, label=label)
    for ax, title in ((lat, "propagation p99 (ms)"), (cpu, "API server + etcd CPU ms / write")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(data["parameters"]["writers"], map(str, data["parameters"]["writers"]))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("SecretSyncs writing one Secret (W)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    lat.legend(fontsize=7)
    fig.suptitle(f"Fan-in at {data['parameters']['rate']:g} changes/s")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_burst(burst: Json, path: Path) -> None:
    rows = list(burst["summary"].values())
    names = [r["name"].replace(" into ", "\ninto ") for r in rows]
    xs = list(range(len(rows)))
    width = 0.38
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for who, prefix, shift in (("secretloom", "", -width / 2), ("floor", "floor_", width / 2)):
        at = [x + shift for x in xs]
        left.bar(at, [r[f"{prefix}updates_per_s"] or 0 for r in rows], width,
                 color=COLORS[who], label=who)  # fmt: skip
        own = [r[f"{prefix}cpu_ms_per_update"] or 0 for r in rows]
        server = [r[f"{prefix}server_cpu_ms_per_update"] or 0 for r in rows]
        right.bar(at, own, width, color=COLORS[who], label=f"{who} process")
        right.bar(at, server, width, bottom=own, color=COLORS[who], alpha=0.45, hatch="//",
                  label=f"API server + etcd, for {who}")  # fmt: skip
    for ax, title, label in (
        (left, f"Burst: {burst['parameters']['burst']:,} updates at once", "updates/s"),
        (right, "CPU per update during the burst", "CPU ms per update"),
    ):
        ax.set_xticks(xs, names, fontsize=8)
        ax.set_ylim(top=ax.get_ylim()[1] * 1.4)  # room for the legend
        ax.set_title(title)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_footprint(footprint: Json, path: Path) -> None:
    samples = footprint["samples"]["rss_mb"]
    fig, ax = plt.subplots(figsize=(8, 3.4))
    ax.plot([s[0] for s in samples], [s[1] for s in samples], color=COLORS["secretloom"])
    ax.axhline(150, color="#d1242f", linestyle=":", label="150 MB target")
    summary = footprint["summary"]
    marks = (("all_reconciled_s", "all reconciled"), ("load_from_s", "steady load"))
    for key, label in marks:
        if summary.get(key) is not None:
            ax.axvline(summary[key], color="#8b949e", linestyle="--", linewidth=1)
            ax.annotate(f" {label}", (summary[key], 10), fontsize=7, color="#57606a")
    ax.set_xlabel("seconds since controller start")
    ax.set_ylabel("RSS (MB)")
    ax.set_ylim(0, max(160, *(s[1] * 1.1 for s in samples)) if samples else 160)
    ax.set_title(
        f"Controller RSS, {summary.get('syncs'):,} SecretSyncs + "
        f"{summary.get('unrelated'):,} unrelated Secrets"
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _conditions(data: Json, scope: str) -> str:
    m = data["machine"]
    versions = ", ".join(
        f"{name} {str(version).removeprefix(name + ' ')}"
        for name, version in data["versions"].items()
    )
    return (
        f"Measured {data['date']} on {m['platform']}, {m['cpus']} CPUs, {m['memory_gib']} GiB, "
        f"Python {m['python']}; {versions}. Load average (1, 5, 15 min) "
        f"{m['load_average_start']} at the start and {m['load_average_end']} at the end of "
        f"{scope}, which took {_fmt(data.get('duration_s'), 0)} s."
    )


def _propagation(data: Json) -> str:
    rows = [
        (
            s["name"],
            s["count"],
            s["p50_ms"],
            s["p95_ms"],
            s["p99_ms"],
            s["max_ms"],
            s["floor_p50_ms"],
            s["floor_p95_ms"],
            s["floor_p99_ms"],
            s["floor_max_ms"],
            f"{_fmt(s['p99_ratio'], 2)}x",
        )
        for s in data["summary"].values()
    ]
    header = ["configuration", "changes", "p50", "p95", "p99", "max"]
    header += ["floor p50", "floor p95", "floor p99", "floor max", "p99 ratio"]
    return _table(header, rows) + "\n\nAll latencies in milliseconds."


def _burst(data: Json) -> str:
    rows = [
        (
            s["name"],
            s["converged_s"],
            s["updates_per_s"],
            s["floor_converged_s"],
            s["floor_updates_per_s"],
            f"{_fmt(s['throughput_ratio'], 2)}x",
            s["writes"],
            s["floor_writes"],
        )
        for s in data["summary"].values()
    ]
    header = ["configuration", "converged (s)", "updates/s", "floor converged (s)"]
    header += ["floor updates/s", "ratio", "target writes", "floor target writes"]
    return _table(header, rows)


def _writes(data: Json) -> str:
    rows = [
        (
            s["name"],
            s["changes"],
            s["writes"],
            _fmt(s["writes_per_change"], 3),
            _fmt(s["floor_writes_per_change"], 3),
            _fmt(s["status_writes_per_change"], 3),
            f"{_fmt(s['writes_at_rest'])} / {_fmt(s['status_writes_at_rest'])}",
            f"{_fmt(s['writes_for_unreferenced_changes'])} / "
            f"{_fmt(s.get('status_writes_for_unreferenced_changes'))}",
        )
        for s in data["summary"].values()
    ]
    header = ["configuration", "changes", "target writes", "per change", "floor per change"]
    header += ["status writes per change", "at rest: target / status"]
    header += [f"{data['parameters']['noise']} unreferenced-key changes: target / status"]
    return _table(header, rows)


def _cost(propagation: Json, burst: Json) -> str:
    rows = []
    for slug, s in propagation["summary"].items():
        b = burst["summary"].get(slug) or {}
        rows.append(
            (
                s["name"],
                s["cpu_ms_per_change"],
                s["floor_cpu_ms_per_change"],
                s["server_cpu_ms_per_change"],
                s["floor_server_cpu_ms_per_change"],
                b.get("cpu_ms_per_update"),
                b.get("floor_cpu_ms_per_update"),
                b.get("server_cpu_ms_per_update"),
                b.get("floor_server_cpu_ms_per_update"),
            )
        )
    header = ["configuration", "steady: process", "floor", "steady: server", "floor"]
    header += ["burst: process", "floor", "burst: server", "floor"]
    return _table(header, rows)


def _footprint(data: Json) -> str:
    s = data["summary"]
    warm, idle = s.get("warm_restart") or {}, s.get("idle") or {}
    ours, floor = s.get("secretloom") or {}, s.get("floor") or {}
    server = (warm.get("apiserver_cpu_s") or 0) + (warm.get("etcd_cpu_s") or 0)
    rows = [
        ("warm restart: caches synced (s)", s.get("caches_synced_s"), None),
        ("warm restart: every SecretSync reconciled (s)", s.get("all_reconciled_s"), None),
        (
            "before it: deferred status writes flushed by a previous run",
            s.get("flushed_status_writes"),
            None,
        ),
        ("warm restart: target + status writes", s.get("warm_restart_writes"), None),
        ("warm restart: CPU-seconds (controller)", warm.get("cpu_s"), None),
        ("warm restart: CPU-seconds (API server + etcd)", server if warm else None, None),
        ("RSS once reconciled (MB)", s.get("start_rss_mb"), None),
        ("idle: CPU-seconds per minute", _per_minute(idle), None),
        ("idle: RSS (MB)", s.get("idle_rss_mb"), None),
        ("steady load: changes", ours.get("changes"), floor.get("changes")),
        ("steady load: CPU-seconds", ours.get("cpu_s"), floor.get("cpu_s")),
        ("steady load: RSS (MB)", ours.get("rss_mb"), floor.get("rss_mb")),
        ("peak RSS over the run, VmHWM (MB)", s.get("peak_rss_mb"), s.get("floor_peak_rss_mb")),
        (
            f"status writes from the restart to the end ({_fmt(s.get('after_restart_s'), 0)} s)",
            s.get("status_writes_after_restart"),
            None,
        ),
    ]
    return _table(("", "secretloom", "floor"), [(a, _num(b), _num(c)) for a, b, c in rows])


def _per_minute(phase: Json) -> float | None:
    if not phase or not phase.get("seconds"):
        return None
    return float(phase["cpu_s"]) * 60 / float(phase["seconds"])


def _num(value: Any) -> Any:
    return f"{value:,.2f}" if isinstance(value, float) else value


def _refresh(
    data: Json,
    syncs: int,
    places: tuple[str, int],
    refresh_s: float,
    counted: str,
    extra: Sequence[tuple[str, Any]] = (),
) -> str:
    """The table of a store-refresh scenario (bench/refresh.py); `places`: (what, how many)."""
    s = data["summary"]
    if s.get("status") != "run":
        return f"**{s.get('status')}.** Its targets are listed above as not run, never as met."
    staleness = s.get("staleness") or {}
    what, count = places
    rows = [
        (f"SecretSyncs / {what} / refresh interval",
         f"{syncs:,} / {count:,} / {_fmt(refresh_s, 0)} s"),
        (f"{counted} in {_fmt(s.get('window_s'), 0)} s with nothing changed", s.get("reads")),
        ("per minute, from that window", s.get("requests_per_min")),
        (f"one read per {what.removesuffix('s')} per interval (the goal) would be",
         count * 60 / refresh_s),
        *extra,
        ("one read per SecretSync per interval (no shared reads) would be", syncs * 60 / refresh_s),
        ("writes in the window with nothing changed", s.get("writes_unchanged")),
        ("changed values / target writes", f"{s.get('changes')} / {s.get('writes_changed')}"),
        ("staleness p50 / p99 / max (s)", " / ".join(
            _fmt((staleness.get(k) or math.nan) / 1000) for k in ("p50_ms", "p99_ms", "max_ms"))),
    ]  # fmt: skip
    return _table(("", "value"), rows)


def _dynamic(data: Json) -> str:
    s, p = data["summary"], data["parameters"]
    if s.get("status") != "run":
        return f"**{s.get('status')}.** Its targets are listed above as not met."
    minutes = s["window_s"] / 60
    rows = [
        ("SecretSyncs (one lease each) / TTL / max TTL / revokeGrace",
         f"{s['syncs']:,} / {p['dynamic_ttl_s']} s / {p['dynamic_max_ttl_s']} s / "
         f"{p['dynamic_grace_s']} s"),
        ("all Ready after controller start (s)", s.get("all_ready_s")),
        ("measured window (s)", s["window_s"]),
        ("renewals per minute (`sys/leases/renew`)", s["renewals_per_min"]),
        ("re-issues per minute (reads of the role's `creds`)", s["reissues_per_min"]),
        ("revocations per minute (`sys/leases/revoke`)", s["revokes_per_min"]),
        ("OpenBao requests per minute, all", s["requests_per_min"]),
        ("target writes per re-issue", _fmt(s.get("writes_per_reissue"), 3)),
        ("target writes per minute", s["target_writes"] / minutes),
        ("controller CPU-seconds per minute", s["controller_cpu_s_per_min"]),
        ("OpenBao CPU-seconds per minute", s.get("openbao_cpu_s_per_min")),
        ("controller RSS at the end / peak (MB)",
         f"{_fmt(s['controller_rss_mb'])} / {_fmt(s['controller_peak_rss_mb'])}"),
        ("live leases in OpenBao at the end", s["live_leases"]),
        ("… held by a SecretSync (one each) / in their revoke grace / leaked",
         f"{s['held']:,} / {s['in_grace']:,} / {s['leaked']:,}"),
        ("targets naming a lease OpenBao no longer holds / leases named twice",
         f"{s['targets_without_live_lease']} / {s['shared_leases']}"),
    ]  # fmt: skip
    return (
        f"{s['syncs']:,} SecretSyncs each hold one `spec.dynamic` entry on one role of "
        "OpenBao's database engine, backed by a real PostgreSQL (bench/dynamic.py); default "
        "`renewAtPercent` (50). Once all are Ready, the window below is counted from OpenBao's "
        "audit log, target writes from the API server's watch. At the end, a live lease no "
        "target names is looked at again after the revoke grace plus "
        f"{_fmt(p['dynamic_settle_s'], 0)} s: still live and unnamed, it is leaked.\n\n"
        f"{_table(('', 'value'), rows)}"
    )


SHARED_READS = (
    "SecretSyncs that name the same {place} share one read of it "
    "(controllers/secretsync/shared.py): a poll takes a read in flight, or a finished one "
    "at most half its refresh interval old, so the goal is one read per {place} per "
    "interval, whatever the number of SecretSyncs."
)
CHANGES = (
    "Then {changes} properties change, spread evenly over one refresh period; each "
    "change is a new version of the whole {place}, whose other properties keep their "
    "values and must not be written. Staleness is from the change's response to the "
    "target event carrying it."
)


def _vault(data: Json) -> str:
    p = data["parameters"]
    table = _refresh(
        data, p["vault_syncs"], ("KV paths", data["summary"].get("paths") or p["vault_paths"]),
        p["vault_refresh_s"], "provider reads (OpenBao's audit log)",
    )  # fmt: skip
    text = (
        SHARED_READS.format(place="KV path")
        + " "
        + CHANGES.format(changes=p["vault_changes"], place="KV path")
    )
    return f"{text}\n\n{table}"


def _aws(data: Json) -> str:
    p, s = data["parameters"], data["summary"]
    secrets, refresh_s = s.get("secrets") or p["aws_secrets"], p["aws_refresh_s"]
    goal = secrets * 60 / refresh_s
    limit = next((t["limit"] for t in data["targets"] if t["unit"] == "calls/min"), None)
    table = _refresh(
        data, p["aws_syncs"], ("secrets", secrets), refresh_s,
        "GetSecretValue calls (moto's request recorder)",
        [("target: at most", limit)],
    )  # fmt: skip
    allowance = f"{_fmt(limit / goal, 1)}x" if limit else "a margin over"
    periods = _fmt((s.get("window_s") or math.nan) / refresh_s, 2)
    return (
        f"{p['aws_syncs']:,} SecretSyncs read one JSON property each of {secrets:,} AWS "
        "Secrets Manager secrets on moto in server mode (bench/aws.py), through one "
        f"SecretStore with static keys, refreshInterval {_fmt(refresh_s, 0)} s. "
        f"{SHARED_READS.format(place='secret')} The target allows {allowance} that, since "
        "a shared read is reused for up to half an interval.\n\n"
        f"The window at rest ({periods} refresh periods) starts once every SecretSync is "
        "Ready. SecretSyncs created together refresh together at first (rounds at least "
        "0.9 of a period apart, two or three of them in the window; 1.25 periods would "
        "hold one or two and read 0.8x or 1.6x the rate by chance). The 10 % jitter "
        "spreads their schedules slowly; once a secret's readers are spread over more "
        "than half an interval it is read up to twice an interval, which this window "
        f"does not reach. {CHANGES.format(changes=p['aws_changes'], place='secret')}"
        f"\n\n{table}"
    )


def _render(data: Json) -> str:
    rows = [
        (name, row["median_s"], row["min_s"], row["max_s"], f"{row['speedup_vs_baseline']:.1f}x")
        for name, row in data["summary"].items()
    ]
    table = _table(("case", "median (s)", "min (s)", "max (s)", "vs. `sops -d` per file"), rows)
    runs = data["parameters"]["runs"]
    conditions = _conditions(data, "the render benchmark")
    return f"{table}\n\n{runs} timed runs per case after a warm-up run. {conditions}"


def _sealed(data: Json) -> str:
    s = data["summary"]
    rows = [
        (
            f"{s['sealedsecrets']:,}",
            _fmt(s["secretloom_all_targets_s"]),
            _fmt(s["secretloom_per_s"], 0),
            _fmt(s["kubeseal_recovery_unseal_s"]),
            _fmt(s["kubeseal_per_object_ms"], 0),
            _fmt(s["restore_applied_s"]),
            _fmt(s["restore_converged_s"]),
        )
    ]
    table = _table(
        ("SealedSecrets", "secretloom: all targets written (s)", "per s",
         "kubeseal --recovery-unseal, same corpus (s)", "ms per object",
         "restore: applied (s)", "restore: all targets written (s)"),
        rows,
    )  # fmt: skip
    conditions = _conditions(data, "the unseal benchmark")
    return (
        f"{table}\n\nOne key per SealedSecret, strict scope, RSA-4096; the controller runs "
        "in the harness's process. kubeseal runs once per object (it reads one at a time), "
        "so its figure is mostly process start-up. The restore applies the backup's keys and "
        "objects to a second, empty control plane and counts until its controller wrote every "
        "target "
        f"(the RTO without the time to provision the cluster). {conditions}"
    )


def _neighbours(data: Json) -> str:
    s, p = data["summary"], data["parameters"]
    if "at_rest" not in s:
        return "**failed.** Its targets are listed above as not run, never as met."
    rest, attacked = s["at_rest"], s["attacked"]
    rows = [
        (what, changes, lost, *(d.get(k) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")))
        for what, changes, lost, d in (
            ("at rest", s["changes"][0], s["unlanded"][0], rest),
            (
                f"beside {s['attackers']} tarpit attackers",
                s["changes"][1],
                s["unlanded"][1],
                attacked,
            ),
        )
    ]
    table = _table(("victim", "changes", "not delivered", "p50", "p95", "p99", "max"), rows)
    return (
        f"{p['neighbour_syncs']} victim SecretSyncs with Kubernetes sources take "
        f"{_fmt(p['neighbour_rate'], 0)} changes/s for {_fmt(p['neighbour_s'], 0)} s, first "
        f"alone, then while {s['attackers']} SecretSyncs of another namespace (as many as the "
        f"controller has workers) read a store whose server accepts and then sends one byte "
        f"every {_fmt(s['trickle_s'], 0)} s (bench/neighbours.py). Same controller, same run. "
        f"Before store polls left the reconcile workers, the victim got 0 of 10 updates.\n\n"
        f"{table}\n\nAll latencies in milliseconds. p99 beside the attackers / at rest: "
        f"{_fmt(s.get('p99_ratio'), 2)}x; requests that reached the tarpit: {s['tarpit_calls']}; "
        f"`/healthz` answered {s['healthz']} during the attack.\n\n"
        f"{_conditions(data, 'its run')}"
    )


def _shards(data: Json) -> str:
    s, p = data["summary"], data["parameters"]
    syncs = p["namespaces"] * p["syncs_per_namespace"]
    table = _table(
        ("changes", "lost", "target writes", "duplicated", "takeover (s)", "worst latency (s)",
         "p50 (ms)", "p99 (ms)"),
        [(s["sent"], s["lost"], s["writes"], s["duplicated"], s["takeover_s"],
          s["convergence_s"], s["propagation_ms"].get("p50"), s["propagation_ms"].get("p99"))],
    )  # fmt: skip
    return (
        f"{p['replicas']} replicas of `secretloom controller --shards {p['shards']}` "
        f"(lease {_fmt(p['lease_duration_s'], 0)} s, retry {_fmt(p['retry_s'], 1)} s) share "
        f"{syncs} SecretSyncs in {p['namespaces']} namespaces, ten writers per target; "
        f"{_fmt(p['rate'], 0)} changes/s for {_fmt(p['duration_s'], 0)} s, and at half time "
        "the replica holding the most shards is killed with SIGKILL (bench/shards.py). "
        "**takeover**: the kill until every shard Lease is held by a live replica; "
        "**duplicated**: target writes beyond one per change, from the targets' watch; "
        "**worst latency**: the slowest change, one caught by the kill. Shards held before "
        f"the kill: {s['held_before']}; replicas that had exited on their own by then: "
        f"{s.get('exited_before') or 'none'}.\n\n{table}\n\n{_conditions(data, 'its run')}"
    )


def _fanin(data: Json) -> str:
    p, runs = data["parameters"], data["summary"]["runs"]
    rows = [
        (
            r["writers"],
            FANIN_LABELS.get(r["implementation"], r["implementation"]),
            f"{r['sent_in_window']} / {r['planned']}",
            r["delivered"],
            r["lost"],
            r["propagation"]["p50_ms"],
            r["propagation"]["p95_ms"],
            r["propagation"]["p99_ms"],
            r["propagation"]["max_ms"],
            r["target_writes"],
            r["server_cpu_ms_per_write"],
            r["managed_fields"],
            "not recorded"
            if r["owners_right"] is None
            else f"{r['owners_right']} / {r['writers']}",
        )
        for r in runs
    ]
    header = ["W", "implementation", "sent on time / planned", "delivered", "lost"]
    header += ["p50 (ms)", "p95 (ms)", "p99 (ms)", "max (ms)", "target writes"]
    header += ["API server + etcd CPU ms / write", "managedFields", "keys with the right owner"]
    mode = data["versions"].get("aggregated write mode", "–")
    before = " ".join(p["before_args"]) if mode == "yes" else "(no --aggregate-writers yet)"
    return (
        f"W SecretSyncs (or floor sources) write one key each into **one** Secret; "
        f"{_fmt(p['rate'], 0)} changes/s for {_fmt(p['duration_s'], 0)} s, each to a random "
        "writer, sent on a schedule whatever the API server's pace (one send in flight per "
        "source), then up to "
        f"{_fmt(p['settle_s'], 0)} s for the backlog to land (bench/fanin.py). Each "
        "implementation runs alone on a control plane of the part's own. **before**: "
        f"`secretloom controller` {before}; **aggregated**: its defaults "
        f"(aggregated write mode in this checkout: {mode}); **coalescing floor**: "
        "`bench/floor.py --coalesce`, one field manager per target and one apply in flight; "
        "**per-key floor**: `bench/floor.py`, one manager per source, one apply per change. "
        "**sent on time**: update responses within the load window; **delivered**: changes "
        "whose value (or a later one of the same source) reached the target; latency from the "
        "update's response to that watch event; **target writes** from the API server's "
        "watch; CPU from /proc over load and drain; **right owner**: keys whose owner in "
        "`secretloom.io/owners` (aggregated) or managedFields (else) is their writer.\n\n"
        f"{_table(header, rows, 'rl' + 'r' * 11)}\n\n{_conditions(data, 'its run')}"
    )


def _scale(data: Json) -> str:
    s, p = data["summary"], data["parameters"]
    ours, floor = s["secretloom"], s["floor"]

    def row(name: str, impl: Json) -> list[Any]:
        steady, burst, cold = impl["steady"], impl["burst"], impl["cold_start"]
        return [
            name, _fmt(cold["seconds"]), cold["target_writes"], _fmt(steady["p50_ms"]),
            _fmt(steady["p95_ms"]), _fmt(steady["p99_ms"]), _fmt(steady["writes_per_change"], 3),
            _fmt(burst["converged_s"], 2), _fmt(burst["throughput_per_s"]),
            _fmt(steady["cpu_s_per_change"] * 1000, 2), _fmt(impl["peak_rss_mb"], 0),
        ]  # fmt: skip

    table = _table(
        ("", "cold start (s)", "target writes", "p50 (ms)", "p95 (ms)", "p99 (ms)",
         "writes/change", "burst (s)", "burst (updates/s)", "CPU ms/change", "peak RSS (MB)"),
        [row("secretloom", ours), row("floor", floor)],
    )  # fmt: skip
    warm, base = ours["warm_restart"], ours["warm_restart_baseline"]
    return (
        f"{s['namespaces']} namespaces × {p['syncs_per_namespace']:,} SecretSyncs (one key "
        f"each, one target each) on one controller replica, cluster-wide, with "
        f"{s['unrelated']:,} unrelated Secrets of {p['unrelated_bytes']:,} bytes (half beside "
        "the SecretSyncs, half in the floor's namespaces); the floor runs as one process over "
        f"as many namespaces with as many workers ({p['workers']}) (bench/scale.py). Steady: "
        f"{_fmt(p['rate'], 0)} changes/s for {_fmt(p['steady_s'], 0)} s spread over every "
        f"namespace; burst: {p['burst']:,} updates at once.\n\n{table}\n\n"
        f"Warm restart with the unrelated Secrets: caches synced in "
        f"{_fmt(warm['caches_synced_s'])} s, all reconciled in {_fmt(warm['all_reconciled_s'])} "
        f"s, {warm['target_writes']} target and {warm['status_writes']} status writes, RSS "
        f"{_fmt(warm['rss_mb'], 0)} MB (without them: {_fmt(base['rss_mb'], 0)} MB, "
        f"{_fmt(base['all_reconciled_s'])} s) -> "
        f"{_fmt(ours['bytes_per_unrelated_secret'], 0)} bytes per unrelated Secret. At rest "
        f"({_fmt(ours['rest']['seconds'], 0)} s): {ours['rest']['target_writes']} target and "
        f"{ours['rest']['status_writes']} status writes. Cold start: "
        f"{ours['cold_start']['status_writes']} SecretSync writes (finalizer and status); CPU "
        f"per SecretSync: controller "
        f"{_fmt(ours['cold_start']['cpu_s_per_sync'] * 1000, 2)} ms, kube-apiserver "
        f"{_fmt(ours['cold_start']['apiserver_cpu_s_per_sync'] * 1000, 2)} ms (the floor: "
        f"{_fmt(floor['cold_start']['cpu_s_per_sync'] * 1000, 2)} and "
        f"{_fmt(floor['cold_start']['apiserver_cpu_s_per_sync'] * 1000, 2)} ms).\n\n"
        f"{_scale_requests(ours, floor)}"
        f"{_scale_machine(ours, floor)}"
        f"{_scale_quiet(ours, floor, p)}"
        f"{_conditions(data, 'its run')}"
    )


def _scale_requests(ours: Json, floor: Json) -> str:
    """API requests per change, from the API server's own counter (runs before it had none)."""
    if "api_requests" not in ours["burst"] or "api_requests" not in floor["burst"]:
        return ""

    def phase(name: str) -> str:
        def one(side: Json) -> str:
            counts = side[name]["api_requests"]
            spread = ", ".join(f"{verb} {n:,}" for verb, n in counts.items())
            return f"{_fmt(side[name]['api_requests_per_change'], 3)} ({spread})"

        return f"{name.capitalize()}: secretloom {one(ours)}; the floor {one(floor)}"

    return (
        "API requests per change, counted by the API server (`apiserver_request_total`, watches "
        "left out), so a request that changed nothing counts too; every client is in it: the "
        "load generator's source apply (one per change) and the bench's barriers as well as "
        f"the implementation. {phase('steady')}. {phase('burst')}.\n\n"
    )


def _scale_quiet(ours: Json, floor: Json, p: Json) -> str:
    """How long each measured phase waited for the control plane to rest (newer runs only)."""
    if "quiet" not in ours or "quiet" not in floor:
        return ""

    def waits(side: Json) -> str:
        return ", ".join(
            f"{phase} {_fmt(w['waited_s'], 0)} s ({_fmt(w['cores'], 2)} cores)"
            for phase, w in side["quiet"].items()
        )

    return (
        "Each steady phase and burst began once the API server, etcd and controller-manager "
        f"together used under {_fmt(p['quiet_cores'], 2)} cores over "
        f"{_fmt(p['quiet_window_s'], 0)} s, with etcd compaction off (bench/scale.py): "
        f"secretloom waited {waits(ours)}; the floor {waits(floor)}.\n\n"
    )


def _scale_machine(ours: Json, floor: Json) -> str:
    """CPU per change of every process on the machine (runs before it was recorded have none)."""
    if "machine_cpu_s_per_change" not in ours["burst"] or "machine_cpu_s" not in floor["burst"]:
        return ""
    parts = ("cpu_s", "apiserver_cpu_s", "etcd_cpu_s", "controller_manager_cpu_s", "bench_cpu_s")

    def row(phase: str, name: str, side: Json) -> list[Any]:
        got, n = side[phase], side[phase].get("changes") or side[phase]["updates"]
        return [f"{phase}: {name}"] + [
            _fmt(got[part] * 1000 / n, 2) for part in (*parts, "machine_cpu_s")
        ]

    rows = [row(phase, name, side) for phase in ("steady", "burst")
            for name, side in (("secretloom", ours), ("floor", floor))]  # fmt: skip
    table = _table(
        ("CPU ms per change", "implementation", "kube-apiserver", "etcd",
         "controller-manager", "load generator", "whole machine"),
        rows,
    )  # fmt: skip
    machine = floor["burst"]["machine_cpu_s_per_change"] / ours["burst"]["machine_cpu_s_per_change"]
    throughput = ours["burst"]["throughput_per_s"] / floor["burst"]["throughput_per_s"]
    return (
        "Where the CPU goes, per change, on every process of the machine (the phase's "
        "CPU-seconds over its changes; the load generator is the benchmark process, which "
        "writes the sources and watches the targets). When the burst keeps both cores busy, "
        "its throughput follows the whole machine's CPU per change: the floor's over "
        f"secretloom's is {_fmt(machine, 2)} in this run, the throughput ratio "
        f"{_fmt(throughput, 2)}. The floor does a subset of secretloom's work on the same "
        "client (the source's event and the target's apply); secretloom also receives its "
        "own write's event (it watches targets for drift) and reconciles.\n\n"
        f"{table}\n\n"
    )


def chaos_table(data: Json) -> str:
    """One row per phase of bench/chaos.py: what held, how fast it healed, p99 against rest."""
    rest = data["summary"].get("at_rest_p99_ms")
    rows = [
        (
            p["what"],
            p["window_s"] if p["fault"] != "none" else None,
            p["changes_during_fault"] if p["fault"] != "none" else None,
            p["lost"],
            p["wrong"],
            p["blanked"],
            p["stale"],
            p["writes_without_lease"],
            "never" if p["converged_s"] is None else p["converged_s"],
            p["propagation"].get("p99_ms"),
            f"{_fmt(record.ratio(p['propagation'].get('p99_ms'), rest), 2)}x",
        )
        for p in data["summary"]["phases"]
    ]
    header = ["fault", "lasted (s)", "changes during it", "lost keys", "wrong keys"]
    header += ["blanked keys", "stale writes", "writes without the Lease"]
    header += ["converged after it healed (s)", "p99 (ms)", "p99 / at rest"]
    return _table(header, rows)


def _chaos(data: Json) -> str:
    p = data["parameters"]
    stores = len(range(0, p["syncs"], p["store_every"]))
    text = (
        f"{p['syncs']} SecretSyncs write into {p['targets']} shared targets, {stores} of them "
        f"also reading an OpenBao key (refreshInterval {p['refresh']}); the sources change "
        f"at {_fmt(p['rate'], 0)}/s ({_fmt(p['store_share'] * 100, 0)} % in OpenBao) through "
        "every phase, and the faults follow one another on the same objects "
        "(bench/chaos.py; `make chaos`). Faults are signals to the real processes; the "
        "controller runs as a ServiceAccount on the shipped Role.\n\n"
        "**lost**: a key left at an older value of its source at the end of the phase "
        f"(load stopped, {_fmt(p['converge_s'], 0)} s allowed); **wrong**: a value its "
        "source never had; **blanked**: a key removed or emptied at any moment, and "
        "**stale writes**: a key going back to an older value, both from a watch on the "
        "targets; **writes without the Lease**: writes the API server's audit log "
        "attributes to the old leader after the standby acquired the Lease. **converged**: "
        "from the moment the component was back (a leader fault: the standby holds the "
        "Lease) until every change acknowledged by then, and one change to every source "
        "made at that moment, had landed; the at-rest row is that burst without a fault. "
        "**p99**: Kubernetes-source changes of the phase, from the write's answer to the "
        "first target event holding that value or a later one.\n"
    )
    notes = [
        f"- {phase['what']}: {line}"
        for phase in data["summary"]["phases"]
        for line in (phase["exits"] + phase["incidents"])[:10]
    ]
    tail = "\n\nWhat broke:\n\n" + "\n".join(notes) if notes else ""
    conditions = _conditions(data, "the churn run")
    return f"{text}\n{chaos_table(data)}{tail}\n\n{conditions}"


def _sizing(costs: model.Costs) -> str:
    """The sizing model's inputs, its extrapolation table and its assumptions (bench/model.py)."""
    inputs = [
        ("controller CPU per change, steady / burst (ms)",
         f"{_fmt(costs.steady.controller_ms, 2)} / {_fmt(costs.burst.controller_ms, 2)}"),
        ("API server + etcd CPU per change, steady / burst (ms)",
         f"{_fmt(costs.steady.server_ms, 2)} / {_fmt(costs.burst.server_ms, 2)}"),
        ("controller CPU per change, steady, by SecretSyncs (ms)",
         ", ".join(f"{_fmt(ms, 2)} at {n:,}" for n, ms in costs.by_size)),
        ("change rate of the steady / burst phase (changes/s)",
         f"{_fmt(costs.steady.changes_per_s)} / {_fmt(costs.burst.changes_per_s)}"),
        ("memory: fixed (MB)", costs.fixed_mb),
        ("memory per SecretSync, its source and target cached (KB)", costs.per_sync_kb),
        ("memory per unrelated Secret, cached as a skeleton (KB)", costs.per_unrelated_kb),
        ("cold start: fixed (s) / per SecretSync (ms)",
         f"{_fmt(costs.cold_fixed_s, 2)} / {_fmt(costs.cold_per_sync_ms, 2)}"),
        ("cold start: API server + etcd CPU per SecretSync (ms)", costs.cold_server_ms_per_sync),
        *((f"{store}: reads per distinct value per refresh interval, at rest", reads)
          for store, reads in costs.polling),
    ]  # fmt: skip
    rows = []
    for rate in model.RATES:
        for replicas in model.REPLICAS:
            d = model.Deployment(model.SYNCS, rate, replicas, model.UNRELATED)
            s = model.size(costs, d)
            rows.append((
                _fmt(rate, 0), replicas, _fmt(s.cores_per_replica, 2),
                _fmt(s.controller_cores, 2), _fmt(s.memory_mb_per_replica, 0),
                _fmt(s.server_cores, 2), _fmt(s.cold_start_s, 0), _fmt(s.controller_ceiling, 0),
                _fmt(s.server_ceiling, 0), s.bottleneck, "yes" if s.fits else "**no**",
            ))  # fmt: skip
    table = _table(
        ("changes/s", "replicas", "cores per replica", "controller cores", "MB per replica",
         "API server + etcd cores", "cold start (s)", "secretloom ceiling (changes/s)",
         "API server ceiling (changes/s)", "bottleneck", "fits"),
        rows, "rrrrrrrrrll",
    )  # fmt: skip
    bound = _table(
        ("API server + etcd cores", "its ceiling (changes/s)", "replicas to reach it"),
        [(_fmt(cores, 0),
          _fmt(model.lines(costs)[1].ceiling(cores), 0),
          model.replicas_until_api_bound(costs, cores)) for cores in model.API_CORES],
    )  # fmt: skip
    by_size = _table(
        ("SecretSyncs", "MB per replica, no unrelated Secrets",
         *(f"cold start, {r} replica{'s' if r > 1 else ''} (s)" for r in (1, 3, 10))),
        [(n, _fmt(model.size(costs, model.Deployment(n, 0.0, 1)).memory_mb_per_replica, 0),
          *(_fmt(model.size(costs, model.Deployment(n, 0.0, r)).cold_start_s, 0)
            for r in (1, 3, 10))) for n in model.SIZES],
    )  # fmt: skip
    assumptions = "\n".join(f"{i}. {a}" for i, a in enumerate(model.ASSUMPTIONS, 1))
    return (
        f"bench/model.py extrapolates the measured unit costs below to {model.SYNCS:,} "
        f"SecretSyncs beside {model.UNRELATED:,} unrelated Secrets, with the API server + "
        f"etcd on 2 cores as on the machine measured. Costs measured at {costs.basis}. "
        "`python -m bench.model --syncs N --rate R --replicas K --unrelated U --api-cores C` "
        "answers for other numbers from the same results.\n\n"
        f"{_table(('measured input', 'value'), [(a, _num(b)) for a, b in inputs])}\n\n"
        f"{table}\n\n"
        "**ceiling**: the change rate at which the replicas reach one core each (secretloom) "
        "or the API server + etcd their cores; **bottleneck**: the lower of the two; "
        "**fits**: the rate is below both. Memory per replica does not fall with more "
        "replicas: each caches every namespace. With the API server + etcd on 2 cores, it "
        f"is the bottleneck from {model.replicas_until_api_bound(costs, 2.0)} replica(s) on: "
        "more replicas then lower the cores per replica and the cold start, not the "
        "ceiling. A bigger control plane moves that point:\n\n"
        f"{bound}\n\nMemory and cold start by the number of SecretSyncs (they do not depend on "
        f"the change rate; add {_fmt(costs.per_unrelated_kb * 100, 0)} MB per 100,000 unrelated "
        f"Secrets):\n\n{by_size}\n\nAssumptions:\n\n{assumptions}"
    )


def write(out_dir: Path, docs: Path, images: Path) -> None:
    """Regenerate `docs` (Markdown) and its PNGs in `images` from the results in `out_dir`."""
    images.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(images, docs.parent)
    propagation, burst = _load(out_dir, "propagation"), _load(out_dir, "burst")
    writes, footprint = _load(out_dir, "writes"), _load(out_dir, "footprint")
    vault, render = _load(out_dir, "vault"), _load(out_dir, "render")
    chaos = _load(out_dir, "chaos")
    neighbours = _load(out_dir, "neighbours")
    dynamic = _load(out_dir, "dynamic")
    sharded = _load(out_dir, "shards")
    sealed = _load(out_dir, "sealed")
    aws = _load(out_dir, "aws")
    fan_in = _load(out_dir, "fanin")
    scaled = _load(out_dir, "scale")
    parts = [
        "# Benchmarks\n",
        "Generated by `make bench` (`python -m bench`, see bench/) from bench/results/*.json; "
        "do not edit by hand: the analysis lives in bench/notes.md and is included below. "
        "`make bench-smoke` runs the same code at tiny sizes inside `make test`.\n",
        "Every secretloom number sits beside **the floor**: a minimal loop "
        "(bench/floor.py) on the same client library that watches the source Secrets and "
        "server-side-applies each change into its target, with no cache, queue or status, "
        "measured in the same run on the same local control plane (etcd + kube-apiserver "
        "built from source, no network hops). Writes are counted from the API server's "
        "watch stream, never from the controller's own logs or metrics.\n",
    ]
    if propagation is not None:
        parts += [f"## Conditions\n\n{_conditions(propagation, 'the cluster scenarios')}\n"]
    parts += ["## Targets\n", targets_table(out_dir) + "\n"]
    if propagation is not None:
        _plot_latency(propagation, images / "bench-latency.png")
        parts += [
            "## 1. Propagation latency\n",
            "Random sources change at a steady 20 changes/s for "
            f"{_fmt(propagation['parameters']['steady_s'], 0)} s; latency is from the source "
            "update's response to the watch event on the target that carries the new value.\n",
            _propagation(propagation) + "\n",
            f"![Propagation latency CDF]({rel}/bench-latency.png)\n",
        ]
    if burst is not None and propagation is not None:
        _plot_burst(burst, images / "bench-burst.png")
        parts += [
            "## 2. Burst convergence\n",
            f"{burst['parameters']['burst']:,} source updates sent at once "
            f"({burst['parameters']['burst_concurrency']} in flight, in order per source); "
            "converged when every target holds every final value. secretloom may write "
            "fewer times than there were updates (a source that changed again before its "
            "target was written is written once); the floor writes every one.\n",
            _burst(burst) + "\n",
            f"![Burst throughput and CPU per update]({rel}/bench-burst.png)\n",
        ]
    if writes is not None:
        parts += [
            "## 3. Write accounting\n",
            "From the steady phase: writes to targets per change (status writes to the "
            "SecretSync shown beside them); then "
            f"{_fmt(writes['parameters']['rest_s'], 0)} s with no change at all, then "
            f"{writes['parameters']['noise']} updates that change only a source key nothing "
            "references.\n",
            _writes(writes) + "\n",
        ]
    if propagation is not None and burst is not None:
        parts += [
            "## Cost per change\n",
            "CPU milliseconds per change of the process under test and of the API server plus "
            "etcd (read from /proc for their PIDs) over the steady phase and the burst. The "
            "server side includes what the benchmark's own source updates and watches cost, "
            "the same for both; the secretloom runs also carry one extra watch (on the "
            "SecretSyncs, to count status writes).\n",
            _cost(propagation, burst) + "\n",
        ]
    if footprint is not None:
        _plot_footprint(footprint, images / "bench-footprint.png")
        parts += [
            "## 4. Footprint and warm restart\n",
            f"The controller is restarted on the N = {footprint['summary']['syncs']:,} "
            f"namespace after {footprint['parameters']['unrelated']:,} unrelated Secrets "
            f"({footprint['parameters']['unrelated_bytes']:,} bytes of data each) were added "
            "beside its sources and targets, every SecretSync already up to date (a warm "
            f"restart); then it idles for {_fmt(footprint['parameters']['footprint_idle_s'], 0)} "
            f"s and takes {_fmt(footprint['parameters']['footprint_load_s'], 0)} s of steady "
            "changes. The floor (which caches nothing and watches only the sources) takes "
            "the same load for comparison.\n",
            _footprint(footprint) + "\n",
            f"![Controller RSS]({rel}/bench-footprint.png)\n",
        ]
    if vault is not None:
        parts += ["## 5. Vault refresh\n", _vault(vault) + "\n"]
        if propagation is None or vault["date"] != propagation["date"]:
            parts += [f"Run on its own: {_conditions(vault, 'its run')}\n"]
    if neighbours is not None:
        parts += ["## 6. Noisy neighbours\n", _neighbours(neighbours) + "\n"]
    if sharded is not None:
        parts += ["## 7. Sharding: a replica killed under load\n", _shards(sharded) + "\n"]
    if fan_in is not None:
        _plot_fanin(fan_in, images / "bench-fanin.png")
        parts += [
            "## Fan-in: many SecretSyncs into one Secret\n",
            _fanin(fan_in) + "\n",
            f"![Fan-in: p99 and API-server CPU per write against W]({rel}/bench-fanin.png)\n",
        ]
    if dynamic is not None:
        parts += ["## 8. Dynamic credentials: renewals and leases\n", _dynamic(dynamic) + "\n"]
        if propagation is None or dynamic["date"] != propagation["date"]:
            parts += [f"Run on its own: {_conditions(dynamic, 'its run')}\n"]
    if aws is not None:
        parts += ["## 9. AWS Secrets Manager refresh\n", _aws(aws) + "\n"]
        if propagation is None or aws["date"] != propagation["date"]:
            parts += [f"Run on its own: {_conditions(aws, 'its run')}\n"]
    if scaled is not None:
        parts += ["## 10. One replica at 10,000 SecretSyncs\n", _scale(scaled) + "\n"]
    if render is not None:
        parts += ["## Render (`secretloom render` as an Argo CD CMP)\n", _render(render) + "\n"]
    if sealed is not None:
        parts += ["## Sealed Secrets (unseal)\n", _sealed(sealed) + "\n"]
    if chaos is not None:
        parts += ["## Churn with faults\n", _chaos(chaos) + "\n"]
    sizing = model.costs(out_dir)
    if sizing is not None:
        parts += ["## Sizing model\n", _sizing(sizing) + "\n"]
    elif propagation is not None:
        parts += [
            "## Sizing model\n",
            "Not computed: bench/model.py fits its lines through "
            "one-target-per-SecretSync runs of two sizes or more; this run has fewer.\n",
        ]
    if NOTES.exists():
        parts += [NOTES.read_text().strip() + "\n"]
    if propagation is not None:
        params = ", ".join(
            f"{k}={v}" for k, v in propagation["parameters"].items() if k != "configs"
        )
        parts += [f"## Parameters\n\n`{params}`\n"]
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text("\n".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=record.RESULTS)
    parser.add_argument("--docs", type=Path, default=DOCS / "benchmarks.md")
    args = parser.parse_args()
    write(args.results, args.docs, args.docs.parent / "img")
    print(targets_table(args.results))


if __name__ == "__main__":
    main()
