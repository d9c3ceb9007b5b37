"""`secretloom controller`: run the SecretSync controller.

Cluster-wide by default; `--namespaces a,b` runs with Roles in those
namespaces only (see deploy/rbac/). `--leader-elect` lets several replicas run
with one active writer.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
from pathlib import Path
from typing import Annotated

import typer

from secretloom.api import sealing
from secretloom.api.secretsync import duration_seconds
from secretloom.cli.errors import fail
from secretloom.controllers.manager import Manager, Options
from secretloom.controllers.secretsync.aggregate import DEFAULT_THRESHOLD
from secretloom.providers.egress import EgressPolicy
from secretloom.providers.protocol import DEFAULT_TIMEOUT as DEFAULT_PROVIDER_TIMEOUT
from secretloom.runtime import logs
from secretloom.runtime.events import DEFAULT_NORMAL_QPS
from secretloom.runtime.kube import KubeClient
from secretloom.runtime.kubeconfig import KubeconfigError
from secretloom.runtime.leader import LeaseConfig
from secretloom.runtime.tokens import TokenPolicy

_BIND_ERRORS = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES})
_JITTER_FACTOR = 1.2  # client-go's leaderelection.JitterFactor
_MAX_LEASE_SECONDS = 2**31 - 1  # a Lease's leaseDurationSeconds is an int32


def controller(
    kubeconfig: Annotated[
        Path | None, typer.Option(help="Kubeconfig (default: $KUBECONFIG, then in-cluster).")
    ] = None,
    namespaces: Annotated[
        str, typer.Option(help="Comma-separated namespaces to watch (default: all).")
    ] = "",
    workers: Annotated[int, typer.Option(min=1, max=64, help="Concurrent reconciles.")] = 4,
    qps: Annotated[float, typer.Option(help="Client-side request rate limit.")] = 50.0,
    burst: Annotated[int, typer.Option(help="Client-side request burst.")] = 100,
    metrics_addr: Annotated[
        str, typer.Option(help="host:port for /metrics, /healthz, /readyz; empty disables.")
    ] = "127.0.0.1:8080",
    leader_elect: Annotated[bool, typer.Option(help="Take a Lease before writing.")] = False,
    cluster_stores: Annotated[
        bool | None,
        typer.Option(
            help="Watch ClusterSecretStores (needs a ClusterRole). Default: on in cluster-wide "
            "mode, off with --namespaces."
        ),
    ] = None,
    poll_slots: Annotated[
        int, typer.Option(min=1, max=1024, help="Store polls in flight at once, in total.")
    ] = 16,
    poll_slots_per_namespace: Annotated[
        int,
        typer.Option(
            min=1,
            max=1024,
            help="Store polls in flight for any one namespace: a slow or hostile store "
            "cannot take every slot.",
        ),
    ] = 4,
    force_foreign_managers: Annotated[
        bool,
        typer.Option(
            help="Let spec.target.force take keys from writers that are not SecretSyncs "
            "(Helm, kubectl, other operators). Off: force takes over only from SecretSyncs."
        ),
    ] = False,
    aggregate_writers: Annotated[
        int,
        typer.Option(
            min=0,
            max=100_000,
            help="Write a target Secret with at least this many SecretSyncs through one "
            "field manager, coalescing their changes, with per-key owners in the annotation "
            "secretloom.io/owners (docs/secretsync.md). 0: every SecretSync always writes as "
            "its own field manager.",
        ),
    ] = DEFAULT_THRESHOLD,
    normal_events_per_second: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1000.0,
            help="Normal Events (Synced) the controller records a second, across all "
            "SecretSyncs, with a burst of ten seconds' worth; the rest are counted in "
            "secretloom_events_dropped_total. Each is an etcd write. 0: none. Warnings are "
            "never limited.",
        ),
    ] = DEFAULT_NORMAL_QPS,
    token_audiences: Annotated[
        str,
        typer.Option(
            help="Comma-separated audiences a store's Kubernetes auth may request tokens for; "
            "never list the API server's own."
        ),
    ] = "vault",  # noqa: S107 (an audience, not a secret)
    token_service_account_label: Annotated[
        str,
        typer.Option(
            help="key=value a ServiceAccount must carry to be used for store logins "
            "(needs get on serviceaccounts). Empty: any ServiceAccount of the namespace."
        ),
    ] = "",
    store_servers: Annotated[
        str,
        typer.Option(
            help="Comma-separated host names, *.suffixes, IPs or CIDRs (each optionally :port) "
            "store servers may be at. Empty: anywhere (a warning says so)."
        ),
    ] = "",
    provider_timeout: Annotated[
        float,
        typer.Option(
            min=0.1,
            max=600.0,
            help="Seconds a store call (validation, read, login) may take in all before it "
            "fails as Unavailable; a server answering byte by byte cannot stretch it.",
        ),
    ] = DEFAULT_PROVIDER_TIMEOUT,
    lease_namespace: Annotated[
        str,
        typer.Option(
            help="Namespace of the Lease (default: the first of --namespaces, else default). "
            "It need not be watched: the chart grants Leases in its release namespace only."
        ),
    ] = "",
    lease_name: Annotated[str, typer.Option(help="Name of the Lease.")] = "secretloom-controller",
    shards: Annotated[
        int,
        typer.Option(
            min=1,
            max=256,
            help="Split the work over this many shard Leases (<lease-name>-shard-<i>); every "
            "replica works on its share of namespaces at once. Implies --leader-elect. Stop all "
            "replicas before changing it.",
        ),
    ] = 1,
    lease_duration: Annotated[
        float,
        typer.Option(
            help="Lease duration, seconds: at least 1 (the Lease holds whole seconds, rounded "
            "up) and more than --renew-deadline."
        ),
    ] = 15.0,
    renew_deadline: Annotated[
        float,
        typer.Option(
            help="Renew deadline, seconds: a leader stops writing this long after its last "
            "renewal began. More than 1.2 times --retry-period."
        ),
    ] = 10.0,
    retry_period: Annotated[
        float, typer.Option(help="Retry period, seconds, between acquire/renew attempts; > 0.")
    ] = 2.0,
    identity: Annotated[str, typer.Option(help="Replica identity (default: host-pid).")] = "",
    sealing_namespace: Annotated[
        str,
        typer.Option(
            help="Keep sealing keys (from.sealed values) in this namespace, usually the "
            "controller's own; empty: sealing off. See docs/sealed-secrets.md."
        ),
    ] = "",
    sealing_renew_period: Annotated[
        str, typer.Option(help='A new sealing key after this long (Go duration; "0": never).')
    ] = sealing.DEFAULT_RENEW_PERIOD,
    serve_bitnami_sealed_secrets: Annotated[
        bool,
        typer.Option(
            help="Also serve bitnami.com/v1alpha1 SealedSecrets (needs --sealing-namespace and "
            "Bitnami's CRD; stop Bitnami's controller first)."
        ),
    ] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
    json_logs: Annotated[
        bool, typer.Option("--json-logs", help="One JSON object per line.")
    ] = False,
) -> None:
    """Run the SecretSync controller until interrupted."""
    logs.configure(log_level, json_output=json_logs)
    scope = [n.strip() for n in namespaces.split(",") if n.strip()] or None
    if not lease_namespace:
        lease_namespace = scope[0] if scope else "default"
    metrics_host, metrics_port = _address(metrics_addr)
    # The timings are used only when a Lease is taken (--leader-elect, or --shards > 1, which
    # implies it), so only then are they checked: a chart without leader election passes none.
    elected = leader_elect or shards > 1
    if elected:
        _check_lease_timings(lease_duration, renew_deadline, retry_period)
    me = identity or f"{socket.gethostname()}-{os.getpid()}"
    tokens = _token_policy(token_audiences, token_service_account_label)
    if serve_bitnami_sealed_secrets and not sealing_namespace:
        fail("--serve-bitnami-sealed-secrets needs --sealing-namespace")
    try:
        renew_seconds = duration_seconds(sealing_renew_period)
    except ValueError as err:
        fail(f"--sealing-renew-period: {err}")
    try:
        egress = EgressPolicy.parse(store_servers)
    except ValueError as err:
        fail(f"--store-servers: {err}")
    try:
        client = KubeClient.from_kubeconfig(kubeconfig, qps=qps, burst=burst)
    except KubeconfigError as err:
        fail(str(err))
    if egress.unrestricted:
        logging.getLogger(__name__).warning(
            "--store-servers is empty: a SecretStore may point the controller at any address "
            "it can reach; list your Vault/OpenBao servers"
        )
    options = Options(
        namespaces=scope,
        workers=workers,
        lease=LeaseConfig(lease_namespace, lease_name, lease_duration, renew_deadline, retry_period)
        if elected
        else None,
        shards=shards,
        identity=me,
        cluster_stores=cluster_stores,
        force_foreign=force_foreign_managers,
        aggregate_writers=aggregate_writers,
        poll_slots=poll_slots,
        poll_slots_per_namespace=min(poll_slots_per_namespace, poll_slots),
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        tokens=tokens,
        store_servers=egress,
        provider_timeout=provider_timeout,
        sealing_namespace=sealing_namespace or None,
        sealing_renew_period=renew_seconds,
        serve_bitnami=serve_bitnami_sealed_secrets,
        freeze_heap=True,
        normal_events_per_second=normal_events_per_second,
    )

    async def run() -> None:
        async with client:
            task = asyncio.create_task(Manager(client, options).run())
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, task.cancel)
            try:
                await task
            except asyncio.CancelledError:
                pass
            except OSError as err:
                # The metrics server binds first, before any API call; nothing
                # else in the manager binds a socket or resolves a host name.
                if isinstance(err, socket.gaierror):
                    fail(f"--metrics-addr {metrics_addr}: {err.strerror}")
                if err.errno not in _BIND_ERRORS:
                    raise
                fail(f"--metrics-addr {metrics_addr}: {os.strerror(err.errno)}")

    asyncio.run(run())


def _token_policy(audiences: str, label: str) -> TokenPolicy:
    allowed = frozenset(a.strip() for a in audiences.split(",") if a.strip())
    if not allowed:
        fail("--token-audiences must name at least one audience")
    if not label:
        return TokenPolicy(audiences=allowed)
    key, sep, value = label.partition("=")
    if not sep or not key:
        fail(f"--token-service-account-label must be key=value, got {label!r}")
    return TokenPolicy(audiences=allowed, account_label=(key, value))


def _address(value: str) -> tuple[str, int | None]:
    if not value:
        return "127.0.0.1", None
    host, _, port = value.rpartition(":")
    if not (port.isascii() and port.isdigit()):
        fail(f"--metrics-addr must be host:port, got {value!r}")
    if int(port) > 65535:
        fail(f"--metrics-addr {value}: port must be 0-65535")
    return host or "0.0.0.0", int(port)  # noqa: S104 (an explicit empty host means all)


def _check_lease_timings(duration: float, deadline: float, retry: float) -> None:
    """Refuse the timings client-go's leaderelection.NewLeaderElector refuses.

    The write fence (runtime/leader.py) stays open for `deadline` after a renewal
    began; a standby may take the Lease `duration` after it saw that renewal, so
    `deadline < duration` is what keeps two leaders from writing at once. The
    comparisons are written `not a > b` so that nan fails them too.
    """
    if not retry > 0:
        fail(f"--retry-period {retry:g} must be greater than 0")
    if not duration >= 1:
        fail(f"--lease-duration {duration:g} must be at least 1 (the Lease holds whole seconds)")
    if not duration <= _MAX_LEASE_SECONDS:
        fail(
            f"--lease-duration {duration:g} must be at most {_MAX_LEASE_SECONDS} "
            "(the Lease holds an int32)"
        )
    if not duration > deadline:
        fail(f"--lease-duration {duration:g} must be greater than --renew-deadline {deadline:g}")
    if not deadline > _JITTER_FACTOR * retry:
        fail(
            f"--renew-deadline {deadline:g} must be greater than {_JITTER_FACTOR} times "
            f"--retry-period {retry:g} (client-go's jitter factor)"
        )
