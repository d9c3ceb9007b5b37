"""bench/model.py: the sizing arithmetic on small hand-computed inputs, and what it reads."""

from __future__ import annotations

import json
from dataclasses import astuple
from pathlib import Path

import pytest
from bench import model, report
from bench.model import Costs, Deployment, Line, Point

# steady: 10 changes/s at 3 ms (controller) and 6 ms (server) -> 0.03 and 0.06 cores;
# burst: 110 changes/s at 1 ms and 2 ms -> 0.11 and 0.22 cores.
# Lines: controller 0.022 + 0.0008 * rate, server 0.044 + 0.0016 * rate.
COSTS = Costs(
    basis="hand",
    steady=Point(10.0, 3.0, 6.0),
    burst=Point(110.0, 1.0, 2.0),
    fixed_mb=50.0,
    per_sync_kb=20.0,
    per_unrelated_kb=1.0,
    cold_fixed_s=1.0,
    cold_per_sync_ms=5.0,
    cold_server_ms_per_sync=4.0,
)


def test_a_line_through_two_operating_points_and_where_it_reaches_a_core() -> None:
    line = Line.through(COSTS.steady, COSTS.burst, server=False)
    assert line.base == pytest.approx(0.022)
    assert line.per_change == pytest.approx(0.0008)
    assert line.cores(105) == pytest.approx(0.106)
    assert line.ceiling(1.0) == pytest.approx(1222.5)
    server = Line.through(COSTS.steady, COSTS.burst, server=True)
    assert (server.base, server.per_change) == pytest.approx((0.044, 0.0016))


def test_sharded_replicas_split_the_rate_and_the_cold_start_but_not_memory() -> None:
    s = model.size(COSTS, Deployment(syncs=1000, changes_per_s=210, replicas=2, unrelated=500))
    assert s.cores_per_replica == pytest.approx(0.106)  # 105 changes/s each
    assert s.controller_cores == pytest.approx(0.212)
    assert s.memory_mb_per_replica == pytest.approx(50 + 20 + 0.5)  # every replica caches all
    assert s.server_cores == pytest.approx(0.044 + 0.0016 * 210)
    assert s.cold_start_s == pytest.approx(1 + 2.5)  # 1,000 x 5 ms / 2 > 1,000 x 4 ms / 2 cores
    assert s.controller_ceiling == pytest.approx(2445)
    assert s.server_ceiling == pytest.approx(1222.5)
    assert (s.bottleneck, s.fits) == ("API server", True)


def test_one_replica_past_its_core_does_not_fit_and_the_api_floor_bounds_cold_start() -> None:
    s = model.size(COSTS, Deployment(1000, 1300, 1, api_cores=2.0))
    assert s.cores_per_replica == pytest.approx(1.062)
    assert (s.bottleneck, s.fits) == ("secretloom", False)  # equal ceilings: not the API's
    s = model.size(COSTS, Deployment(1000, 10, 10, api_cores=1.0))
    assert s.cold_start_s == pytest.approx(1 + 4.0)  # the API server's 4 s beat 0.5 s each
    assert model.replicas_until_api_bound(COSTS, 2.0) == 1
    assert model.replicas_until_api_bound(COSTS, 4.0) == 3  # 2,472.5 / 1,222.5 per replica


def test_least_squares_line() -> None:
    assert model.line([(0, 1), (10, 2), (20, 3)]) == pytest.approx((1, 0.1))
    assert model.line([(0, 0), (10, 2), (20, 2)]) == pytest.approx((1 / 3, 0.1))


def _result(out: Path, name: str, data: dict[str, object]) -> None:
    (out / f"{name}.json").write_text(json.dumps({"date": "2026-12-05T01:00:00", **data}))


def _n1000_results(out: Path) -> None:
    """Two plain configurations and one fan-in one (ignored); RSS 60 + 0.02 MB per SecretSync."""
    configs = [
        {"slug": "a", "syncs": 10, "targets": 10},
        {"slug": "b", "syncs": 1000, "targets": 1000},
        {"slug": "fan", "syncs": 100, "targets": 10},
    ]
    params = {"rate": 20.0, "configs": configs}
    steady = {"cpu_ms_per_change": 3.0, "server_cpu_ms_per_change": 8.0}
    fan = {"cpu_ms_per_change": 99.0, "server_cpu_ms_per_change": 99.0}
    small = {"cpu_ms_per_change": 3.1, "server_cpu_ms_per_change": 8.1}
    summary = {"a": small, "b": steady, "fan": fan}
    _result(out, "propagation", {"parameters": params, "summary": summary})
    fast = {"updates_per_s": 300.0, "cpu_ms_per_update": 1.5, "server_cpu_ms_per_update": 3.0}
    _result(out, "burst", {"parameters": params, "summary": {"b": fast}})
    samples = {
        "a": {"secretloom": {"rss_mb": 60.2, "start_s": 0.55}},
        "b": {"secretloom": {"rss_mb": 80.0, "start_s": 5.5}},
        "fan": {"secretloom": {"rss_mb": 999.0, "start_s": 99.0}},
    }
    _result(out, "writes", {"parameters": params, "samples": samples})
    # 1,000 SecretSyncs (80 MB) + 10,000 unrelated Secrets -> 90 MB: 1 KB each
    fp = {"syncs": 1000, "unrelated": 10_000, "start_rss_mb": 90.0}
    _result(out, "footprint", {"parameters": params, "summary": fp})


def test_costs_from_the_n1000_results_say_the_10000_run_is_not_in(tmp_path: Path) -> None:
    assert model.costs(tmp_path) is None
    _n1000_results(tmp_path)
    propagation = json.loads((tmp_path / "propagation.json").read_text())
    configs = propagation["parameters"]["configs"]
    propagation["parameters"]["configs"] = configs[1:]  # one size, as in the smoke run
    _result(tmp_path, "propagation", propagation)
    assert model.costs(tmp_path) is None
    _n1000_results(tmp_path)
    c = model.costs(tmp_path)
    assert c is not None
    assert c.basis == "N = 1,000: scale.json (the 10,000 run) is absent"
    assert c.steady == Point(20.0, 3.0, 8.0)
    assert c.burst == Point(300.0, 1.5, 3.0)
    assert (c.fixed_mb, c.per_sync_kb) == pytest.approx((60.0, 20.0))
    assert c.per_unrelated_kb == pytest.approx(1.0)
    assert (c.cold_fixed_s, c.cold_per_sync_ms) == pytest.approx((0.5, 5.0))
    assert c.cold_server_ms_per_sync == pytest.approx(6.0)  # two writes at the burst cost
    assert c.by_size == ((10, 3.1), (1000, 3.0))  # steady, each plain size that ran
    assert c.polling == ()
    vault = {"status": "run", "requests_per_min": 40.0, "paths": 50}
    _result(tmp_path, "vault", {"parameters": {"vault_refresh_s": 30.0}, "summary": vault})
    aws = {"status": "skipped: no moto"}
    _result(tmp_path, "aws", {"parameters": {"aws_refresh_s": 60.0}, "summary": aws})
    polled = model.costs(tmp_path)
    assert polled is not None
    [(store, reads)] = polled.polling
    assert store == "Vault"
    assert reads == pytest.approx(0.4)  # 40 reads/min x 0.5 min per period / 50 paths


def test_costs_take_the_10000_run_when_it_is_there(tmp_path: Path) -> None:
    _n1000_results(tmp_path)
    phase = {"apiserver_cpu_s_per_change": 0.002, "etcd_cpu_s_per_change": 0.0005}
    ours = {
        "steady": {**phase, "cpu_s_per_change": 0.0025},
        "burst": {**phase, "cpu_s_per_change": 0.001, "throughput_per_s": 400.0},
        "cold_start": {
            "seconds": 50.5,  # on the line 0.5 + 5 ms per SecretSync
            "cpu_s_per_sync": 0.002,
            "apiserver_cpu_s_per_sync": 0.003,
            "etcd_cpu_s_per_sync": 0.001,
        },
        "bytes_per_unrelated_secret": 800,
        # on the line 60 + 0.02 MB per SecretSync, plus 20,000 floor Secrets at 0.8 KB
        "warm_restart_baseline": {"rss_mb": 260.0 + 16.0},
    }
    summary = {"syncs": 10_000, "secretloom": ours}
    _result(tmp_path, "scale", {"parameters": {"rate": 20.0}, "summary": summary})
    c = model.costs(tmp_path)
    assert c is not None
    assert c.basis == "N = 10,000 (scale.json, 2026-12-05)"
    assert astuple(c.steady) == pytest.approx((20.0, 2.5, 2.5))
    assert astuple(c.burst) == pytest.approx((400.0, 1.0, 2.5))
    assert (c.fixed_mb, c.per_sync_kb) == pytest.approx((60.0, 20.0))
    assert c.per_unrelated_kb == pytest.approx(0.8)
    assert (c.cold_fixed_s, c.cold_per_sync_ms) == pytest.approx((0.5, 5.0))
    assert c.cold_server_ms_per_sync == pytest.approx(4.0)
    assert c.by_size == ((10, 3.1), (1000, 3.0), (10_000, 2.5))
    del ours["burst"]  # a run that failed half-way is not used, and the page says so
    _result(tmp_path, "scale", {"parameters": {"rate": 20.0}, "summary": summary})
    c = model.costs(tmp_path)
    assert c is not None
    assert c.basis == "N = 1,000: scale.json is incomplete"
    assert c.steady == Point(20.0, 3.0, 8.0)
    summary["syncs"] = 1000  # a smoke or development run is smaller than what it would replace
    _result(tmp_path, "scale", {"parameters": {"rate": 20.0}, "summary": summary})
    c = model.costs(tmp_path)
    assert c is not None
    assert c.basis == "N = 1,000: scale.json is of N = 1,000, not used"


def test_the_report_section_states_every_assumption_and_every_row() -> None:
    text = report._sizing(COSTS)
    assert all(assumption in text for assumption in model.ASSUMPTIONS)
    rows = [line for line in text.splitlines() if line.startswith(("| 20 |", "| 200 |"))]
    assert len(rows) == 2 * len(model.REPLICAS)
    assert "| 1,000 | 10 |" in text
