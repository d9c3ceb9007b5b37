"""`secretloom controller` as a subprocess, the way it is deployed.

The demo, the process-level tests and the benchmarks all need the real CLI in
its own process (honest RSS/CPU numbers, real signal handling, real RBAC
identity). With a metrics address, start-up waits until `/readyz` answers,
that is until every cache has synced. Always stopped on exit: SIGTERM (the
controller releases its Lease), then SIGKILL after a grace period.

Fault-injection runs (bench/chaos.py) kill, pause and restart the process
themselves, from an event loop: `start` only spawns (optionally dying with
its parent, PR_SET_PDEATHSIG), `wait_ready` and `stop` are the blocking
halves `running` is made of.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from secretloom.testing.cluster import free_port, kill_with_parent, stop_child


def http_get(port: int, path: str) -> str:
    """Body of http://127.0.0.1:port/path, or "" when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def start(
    kubeconfig: Path, log: Path, *args: str, die_with_parent: bool = False
) -> tuple[subprocess.Popen[bytes], int]:
    """Spawn the controller with `args` on a free metrics port; returns at once."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "secretloom.cli",
        "controller",
        "--kubeconfig",
        str(kubeconfig),
        "--metrics-addr",
        f"127.0.0.1:{port}",
        *args,
    ]
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=kill_with_parent if die_with_parent else None,  # noqa: PLW1509
        )
    return proc, port


def wait_ready(
    proc: subprocess.Popen[bytes], port: int, log: Path, *, timeout: float = 30.0
) -> None:
    """Until `/readyz` answers ok (every cache synced); raises if the process exits first."""
    deadline = time.monotonic() + timeout
    while not http_get(port, "/readyz").startswith("ok"):
        if proc.poll() is not None:
            raise RuntimeError(f"controller exited ({proc.returncode}); see {log}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"controller not ready within {timeout:.0f}s; see {log}")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the Lease is released), SIGKILL after 10 s; a no-op once it has exited."""
    stop_child(proc)


@contextlib.contextmanager
def running(
    kubeconfig: Path, log: Path, *args: str, ready_timeout: float = 30.0
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Start the controller with `args`; yields (process, metrics port) once ready."""
    proc, port = start(kubeconfig, log, *args)
    try:
        wait_ready(proc, port, log, timeout=ready_timeout)
        yield proc, port
    finally:
        stop(proc)
