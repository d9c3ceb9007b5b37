"""Prometheus metrics, all under `secretloom_`, and the /metrics /healthz /readyz server.

Granularity follows what users already chart for External Secrets and Sealed
Secrets (per sync, per provider call, per condition), plus what none of them
exposes: propagation latency (source event seen -> target write acknowledged)
and conflicts. Labels never carry values; they carry controller names,
outcomes, reasons and condition types only, so cardinality stays bounded.

The HTTP server is a few lines on asyncio streams: three fixed paths do not
justify a web framework.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

RECONCILE_TOTAL = Counter(
    "secretloom_reconcile_total",
    "Reconciles by controller and outcome.",
    ["controller", "outcome"],
    registry=REGISTRY,
)
RECONCILE_DURATION = Histogram(
    "secretloom_reconcile_duration_seconds",
    "Reconcile duration.",
    ["controller"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
WORKQUEUE_DEPTH = Gauge(
    "secretloom_workqueue_depth",
    "Keys waiting in the work queue.",
    ["controller"],
    registry=REGISTRY,
)
SYNC_TOTAL = Counter(
    "secretloom_sync_total",
    "SecretSync reconciles by result (written, unchanged, conflict, waiting, error).",
    ["result"],
    registry=REGISTRY,
)
SYNC_ERRORS = Counter(
    "secretloom_sync_errors_total", "SecretSync errors by reason.", ["reason"], registry=REGISTRY
)
TARGET_WRITES = Counter(
    "secretloom_target_writes_total", "Server-side applies to target Secrets.", registry=REGISTRY
)
EVENTS_DROPPED = Counter(
    "secretloom_events_dropped_total",
    "Events not sent: Normal ones over the rate budget, any over the in-flight cap.",
    ["type"],
    registry=REGISTRY,
)
CONFLICTS = Counter(
    "secretloom_conflicts_total",
    "Keys refused because another field manager owns them.",
    registry=REGISTRY,
)
DRIFT_CORRECTIONS = Counter(
    "secretloom_drift_corrections_total",
    "Owned keys restored after another writer changed them.",
    registry=REGISTRY,
)
PROPAGATION = Histogram(
    "secretloom_propagation_seconds",
    "Source change seen by the informer -> target write acknowledged.",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)


class ConditionCollector(Collector):
    """SecretSync conditions, read from the cache at scrape time.

    * `secretloom_secretsync_condition{type,status}`: how many SecretSyncs are in
      each state, for dashboards.
    * `secretloom_secretsync_status_condition{namespace,name,condition,status}`:
      per object, External Secrets' `externalsecret_status_condition` shape that
      alerts are written against (`{condition="Ready",status="False"} == 1`).
      Only `Ready` is exported per object, as a 1 for its current status and a 0
      for the other, so cardinality is two series per SecretSync.

    Counting on scrape instead of on every status write keeps the gauges exact
    (deleted objects drop out by themselves) and costs nothing between scrapes.
    """

    def __init__(self, objects: Callable[[], Iterable[Mapping[str, Any]]]) -> None:
        self._objects = objects

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts: collections.Counter[tuple[str, str]] = collections.Counter()
        per_object = GaugeMetricFamily(
            "secretloom_secretsync_status_condition",
            "The Ready condition of each SecretSync: 1 for its current status, 0 for the other.",
            labels=["namespace", "name", "condition", "status"],
        )
        for obj in self._objects():
            meta = obj.get("metadata") or {}
            for condition in (obj.get("status") or {}).get("conditions") or []:
                kind, state = str(condition.get("type")), str(condition.get("status"))
                counts[(kind, state)] += 1
                if kind == "Ready":
                    where = [str(meta.get("namespace", "")), str(meta.get("name", ""))]
                    for status in ("True", "False"):
                        per_object.add_metric([*where, kind, status], float(state == status))
        family = GaugeMetricFamily(
            "secretloom_secretsync_condition",
            "SecretSyncs by condition type and status.",
            labels=["type", "status"],
        )
        for (kind, state), count in sorted(counts.items()):
            family.add_metric([kind, state], count)
        yield family
        yield per_object


PROVIDER_CALLS = Counter(
    "secretloom_provider_calls_total",
    "Provider API calls by provider and outcome.",
    ["provider", "outcome"],
    registry=REGISTRY,
)
LEADER = Gauge("secretloom_leader", "1 while this replica holds the lease.", registry=REGISTRY)
SHARD_HELD = Gauge(
    "secretloom_shard_held",
    "1 while this replica holds the shard's Lease (--shards).",
    ["shard"],
    registry=REGISTRY,
)


async def serve(
    host: str,
    port: int,
    ready: Callable[[], bool],
    healthy: Callable[[], bool] = lambda: True,
) -> asyncio.Server:
    """Serve /metrics, /healthz (503 once `healthy()` is false: a liveness signal, e.g. a
    reconcile stuck for minutes) and /readyz (200 once `ready()` is true: the caches synced)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await reader.readline()
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            path = parts[1] if len(parts) > 1 else "/"
            if path == "/metrics":
                status, body, ctype = "200 OK", generate_latest(REGISTRY), CONTENT_TYPE_LATEST
            elif path in ("/healthz", "/readyz"):
                live = path == "/healthz"
                ok = healthy() if live else ready()
                status = "200 OK" if ok else "503 Service Unavailable"
                verdict = b"ok\n" if ok else (b"stuck\n" if live else b"not ready\n")
                body, ctype = verdict, "text/plain"
            else:
                status, body, ctype = "404 Not Found", b"not found\n", "text/plain"
            head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
            head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            writer.write(head.encode() + body)
            await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
