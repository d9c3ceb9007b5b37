"""`secretloom controller` as a subprocess, the way it is deployed.

The demo, the process-level tests and the benchmarks all need the real CLI in
its own process (honest RSS/CPU numbers, real signal handling, real RBAC
identity). With a metrics address, start-up waits until `/readyz` answers,
that is until every cache has synced. Always stopped on exit: SIGTERM (the
controller releases its Lease), then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from secretloom.testing.cluster import free_port


def http_get(port: int, path: str) -> str:
    """Body of http://127.0.0.1:port/path, or "" when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return ""


@contextlib.contextmanager
def running(
    kubeconfig: Path, log: Path, *args: str, ready_timeout: float = 30.0
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Start the controller with `args`; yields (process, metrics port) once ready."""
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
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + ready_timeout
        while not http_get(port, "/readyz").startswith("ok"):
            if proc.poll() is not None:
                raise RuntimeError(f"controller exited ({proc.returncode}); see {log}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"controller not ready within {ready_timeout:.0f}s; see {log}")
            time.sleep(0.05)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
