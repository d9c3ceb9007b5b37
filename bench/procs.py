"""The processes under test: the controller and the floor, each its own subprocess.

Both run as `python -m ...` children of the benchmark, so RSS and CPU are
theirs alone and read from the kernel, not estimated: RSS from
`/proc/<pid>/status` (VmRSS now, VmHWM the peak since start), CPU-seconds from
`/proc/<pid>/stat` (utime + stime). A sampler task records RSS every
`interval` seconds for the footprint plot.

Children get PR_SET_PDEATHSIG (the control-plane harness's `kill_with_parent`),
so a killed benchmark leaves neither behind; `stop()` sends SIGTERM, waits, and
kills only this child, by PID.

Readiness: the controller answers `/readyz` on its metrics port once its
caches are synced; the floor prints `ready` once its initial pass is done. The
controller's `/metrics` also tells how many reconciles it has finished, which
is how a cold start knows it has looked at every SecretSync (whether it
*wrote* anything is counted from the API server's watch stream instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import ssl
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import httpx2 as httpx
from prometheus_client.parser import text_string_to_metric_families

from secretloom.testing.cluster import Cluster, free_port, kill_with_parent

_TICKS = os.sysconf("SC_CLK_TCK")


SERVERS = ("kube-apiserver", "etcd", "kube-controller-manager")


def servers(cluster: Cluster) -> dict[str, int]:
    """The control plane's processes whose CPU a phase accounts for, by name."""
    return {name: cluster.pids[name] for name in SERVERS}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far (not of its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


async def quiet(
    pids: dict[str, int], *, busy: float, window: float = 5.0, limit: float = 300.0
) -> tuple[float, float]:
    """Wait until `pids` together use less than `busy` cores over `window` seconds.

    The control plane has work of its own (etcd compaction, periodic upkeep);
    a phase that starts while it runs is charged for it, in CPU per change and
    in latency (bench/notes.md, session 7). Returns the
    seconds waited and the cores used over the last window; gives up after
    `limit` seconds, and the caller records what it found either way.
    """
    started = time.perf_counter()
    while True:
        before = sum(cpu_seconds(pid) for pid in pids.values())
        await asyncio.sleep(window)
        cores = (sum(cpu_seconds(pid) for pid in pids.values()) - before) / window
        waited = time.perf_counter() - started
        if cores < busy or waited >= limit:
            return waited, cores


class ProcessFailed(Exception):
    """A process under test exited or never became ready; the message quotes its log."""


class Process:
    """One benchmarked child process."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self._proc = proc
        self.log = log
        self.started = time.perf_counter()
        self.rss_samples: list[tuple[float, int]] = []  # (seconds since start, bytes)
        self._sampler: asyncio.Task[None] | None = None
        self._profiler: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        return self._proc.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def _status(self, field: str) -> int:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return 0  # killed (a fault injection) and already reaped
        for line in status.splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        return 0

    def rss_bytes(self) -> int:
        return self._status("VmRSS")

    def peak_rss_bytes(self) -> int:
        return self._status("VmHWM")

    def sample(self, interval: float = 0.25) -> None:
        """Record RSS every `interval` seconds until stopped."""

        async def run() -> None:
            while self.alive():
                self.rss_samples.append((time.perf_counter() - self.started, self.rss_bytes()))
                await asyncio.sleep(interval)

        self._sampler = asyncio.create_task(run())

    def alive(self) -> bool:
        return self._proc.returncode is None

    def check(self) -> None:
        if not self.alive():
            raise ProcessFailed(f"{self.name} exited ({self._proc.returncode}):\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def profile(self, py_spy: Path, out: Path) -> None:
        """Attach py-spy (sampling, 100 Hz, CPU only) until `stop()`; raw stacks to `out`."""
        self._profiler = subprocess.Popen(
            [str(py_spy), "record", "--pid", str(self.pid), "--format", "raw", "--rate", "100",
             "--output", str(out), "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=kill_with_parent,  # noqa: PLW1509
        )  # fmt: skip

    async def stop(self) -> None:
        if self._profiler is not None:
            self._profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            await asyncio.to_thread(self._profiler.wait, 30)
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        if not self.alive():
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self._proc.wait(), 10)
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()


async def _spawn(
    argv: Sequence[str], log: Path, *, stdout_pipe: bool
) -> asyncio.subprocess.Process:
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if stdout_pipe else sink,
            stderr=sink,
            preexec_fn=kill_with_parent,
        )


class Controller(Process):
    """`secretloom controller` scoped to the benchmark's namespaces."""

    port: int

    @classmethod
    async def start(
        cls,
        kubeconfig: Path,
        namespaces: Sequence[str],
        log: Path,
        *,
        workers: int,
        qps: float,
        burst: int,
        python: Sequence[str] = (sys.executable,),
        timeout: float = 60.0,
        extra: Sequence[str] = (),
    ) -> Controller:
        port = free_port()
        argv = [
            *python,
            "-m",
            "secretloom.cli",
            "controller",
            f"--kubeconfig={kubeconfig}",
            f"--namespaces={','.join(namespaces)}",
            f"--workers={workers}",
            f"--qps={qps}",
            f"--burst={burst}",
            f"--metrics-addr=127.0.0.1:{port}",
            "--log-level=warning",
            *extra,
        ]
        self = cls("controller", await _spawn(argv, log, stdout_pipe=False), log)
        self.port = port
        self.sample()
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                self.check()
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise ProcessFailed(f"controller not ready in {timeout:.0f}s:\n{self.tail()}")
                await asyncio.sleep(0.05)
        return self

    async def reconciles(self) -> int:
        """Finished reconciles so far, any outcome (from the controller's /metrics)."""
        async with httpx.AsyncClient(timeout=5.0) as http:
            text = (await http.get(f"http://127.0.0.1:{self.port}/metrics")).text
        return int(
            sum(
                sample.value
                for family in text_string_to_metric_families(text)
                if family.name == "secretloom_reconcile"
                for sample in family.samples
                if sample.name == "secretloom_reconcile_total"
            )
        )


class FloorProcess(Process):
    """`python -m bench.floor`: see bench/floor.py."""

    @classmethod
    async def start(
        cls,
        kubeconfig: Path,
        namespace: str | Sequence[str],  # several: one floor process over all (bench/scale.py)
        mapping: Path,
        log: Path,
        *,
        workers: int,
        qps: float,
        burst: int,
        timeout: float = 120.0,
        extra: Sequence[str] = (),
    ) -> FloorProcess:
        scope = (
            f"--namespace={namespace}"
            if isinstance(namespace, str)
            else f"--namespaces={','.join(namespace)}"
        )
        argv = [
            sys.executable,
            "-m",
            "bench.floor",
            f"--kubeconfig={kubeconfig}",
            scope,
            f"--mapping={mapping}",
            f"--workers={workers}",
            f"--qps={qps}",
            f"--burst={burst}",
            *extra,
        ]
        self = cls("floor", await _spawn(argv, log, stdout_pipe=True), log)
        self.sample()
        assert self._proc.stdout is not None
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), timeout)
        except TimeoutError:
            raise ProcessFailed(f"floor not ready in {timeout:.0f}s:\n{self.tail()}") from None
        if line.strip() != b"ready":
            await self._proc.wait()
            raise ProcessFailed(f"floor failed to start:\n{self.tail()}")
        return self


async def api_requests(cp: Cluster) -> Counter[str]:
    """Requests the API server has answered so far, by "VERB resource[/subresource]".

    From its own `apiserver_request_total`, so a request that changed nothing
    (a no-op apply, which no watch ever sees) is counted too. Watches are left
    out: each is counted once, when it opens. Every client is counted: the
    load generator and the bench's barriers as well as the implementation.
    """
    verify = ssl.create_default_context(cafile=str(cp.ca_cert))
    headers = {"Authorization": f"Bearer {cp.admin.token}"}
    async with httpx.AsyncClient(verify=verify, timeout=10.0) as http:
        text = (await http.get(f"{cp.server}/metrics", headers=headers)).text
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name != "apiserver_request":
            continue
        for sample in family.samples:
            labels = sample.labels
            if sample.name != "apiserver_request_total" or labels.get("verb") == "WATCH":
                continue
            sub = labels.get("subresource")
            name = f"{labels.get('verb')} {labels.get('resource')}" + (f"/{sub}" if sub else "")
            counts[name] += int(sample.value)
    return counts
