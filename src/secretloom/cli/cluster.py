"""`secretloom cluster up|down|status`: the local control plane for development.

A thin shell over `secretloom.testing.cluster`; state lives in a data directory
per cluster name, so `down` in one shell stops what `up` started in another.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from secretloom.cli.errors import fail
from secretloom.testing import cluster

app = typer.Typer(
    help="Run a real local control plane (etcd + kube-apiserver + controller-manager)."
)

NameOption = Annotated[str, typer.Option("--name", help="Cluster name (one data dir each).")]
DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default: cache dir / name).")
]


def _data_dir(name: str, data_dir: Path | None) -> Path:
    return data_dir or cluster.default_data_dir(name)


@app.command()
def up(name: NameOption = "default", data_dir: DataDirOption = None) -> None:
    """Build (once, cached) and start the control plane; print the admin kubeconfig path."""
    directory = _data_dir(name, data_dir)
    started = time.monotonic()
    try:
        running = cluster.start(directory, bin_dir=cluster.binaries(progress=sys.stderr))
    except cluster.ControlPlaneError as err:
        fail(str(err))
    typer.echo(
        f"cluster {name!r} ready in {time.monotonic() - started:.1f}s at {running.server}",
        err=True,
    )
    typer.echo(f"non-admin kubeconfig: {running.user_kubeconfig}", err=True)
    typer.echo(str(running.kubeconfig))


@app.command()
def down(name: NameOption = "default", data_dir: DataDirOption = None) -> None:
    """Stop exactly the processes `up` started and remove the data directory."""
    try:
        cluster.Cluster.load(_data_dir(name, data_dir)).stop()
    except cluster.ControlPlaneError as err:
        fail(str(err))
    typer.echo(f"cluster {name!r} stopped", err=True)


@app.command()
def status(name: NameOption = "default", data_dir: DataDirOption = None) -> None:
    """Print the processes, readiness and kubeconfig as JSON; exit 1 when not ready."""
    try:
        current = cluster.Cluster.load(_data_dir(name, data_dir))
    except cluster.ControlPlaneError as err:
        fail(str(err))
    ready = current.ready()
    report = {
        "server": current.server,
        "kubeconfig": str(current.kubeconfig),
        "userKubeconfig": str(current.user_kubeconfig),
        "processes": current.running(),
        "ready": ready,
    }
    typer.echo(json.dumps(report, indent=2))
    if not ready:
        raise typer.Exit(1)
