"""A peer server run as a child process on a loopback port: the lifecycle every harness shares.

OpenBao (`testing/openbao.py`) and the AWS emulator (`testing/moto.py`) are
real products the tests start by PID; what they share is here, once, so a fix
to how a server is started, waited for or stopped reaches both (issue 11's
"one of each concept": the two harnesses had grown the same hundred lines).

- Loopback only, on a free port. The port is kept across `stop()`/`start()`
  so an outage test sees the same address come back. A first start that fails
  because the port was taken in the meantime is retried on a new port, unless
  the caller chose the port; a restart never moves.
- These servers keep their state in memory: `seed` runs after every start.
- The child gets the minimal environment its subclass gives it, and its output
  goes to a private log in the work directory, never to the test output;
  `_log_tail` quotes the log's end on a failed start through `_safe_line`, so a
  subclass whose server prints credentials drops those lines.
- `pause()` (SIGSTOP) is a hung server: the kernel still accepts connections
  on its port and nothing answers, which is how a stuck server looks to a
  client, unlike a dead one (`kill()`: connection refused). Stopping or
  killing a paused server resumes it first, or SIGTERM would wait for the
  grace period.
- `die_with_parent` (PR_SET_PDEATHSIG, as the control-plane harness does)
  makes a killed test run take the server with it. The signal follows the
  *thread* that started the server, so start it from a long-lived thread.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from secretloom.testing.cluster import free_port, kill_with_parent

_START_ATTEMPTS = 3
_STOP_GRACE = 10.0
_LOG_TAIL = 20


class ServerError(Exception):
    """A peer server could not be started or stopped; the message says why."""


class LoopbackServer:
    """Start, wait for, stop, pause and resume one server; subclasses say how to launch it."""

    name: ClassVar[str]  # in messages: "OpenBao", "moto"
    log_name: ClassVar[str]  # the log file in the work directory
    error: ClassVar[type[ServerError]] = ServerError
    poll_interval: ClassVar[float] = 0.05

    def __init__(
        self,
        *,
        port: int | None,
        work_dir: Path | None,
        seed: Callable[[Self], None] | None,
        die_with_parent: bool,
        start_timeout: float,
    ) -> None:
        self._port_pinned = port is not None
        self._port = port or free_port()
        self._own_work_dir = work_dir is None
        prefix = f"secretloom-{self.name.lower()}-"
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix=prefix))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._seed = seed
        self._die_with_parent = die_with_parent
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    # -- for subclasses -------------------------------------------------------------

    def _launch(self) -> None:
        """Prepare and `_spawn` the server process on `self.port`."""
        raise NotImplementedError

    def _ready(self) -> bool:
        """One probe: does the server answer as ready? (False while starting.)"""
        raise NotImplementedError

    def _safe_line(self, line: str) -> bool:
        """Whether a log line may be quoted in an error (not one printing credentials)."""
        del line
        return True

    def _spawn(self, args: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        with self.log_path.open("ab") as log:
            self.log_path.chmod(0o600)
            log.write(f"==> start on 127.0.0.1:{self._port}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,  # Ctrl-C in a terminal reaches only us; we stop it
                preexec_fn=kill_with_parent if self._die_with_parent else None,  # noqa: PLW1509
            )

    # -- where it is --------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def log_path(self) -> Path:
        return self.work_dir / self.log_name

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        """Start (or start again, on the same port) and return once it is ready."""
        if self.running:
            raise self.error(
                f"{self.name} is already running on port {self._port} (pid {self.pid})"
            )
        for attempt in range(1, _START_ATTEMPTS + 1):
            self._launch()
            if self._wait_ready():
                break
            if self._port_pinned or attempt == _START_ATTEMPTS:
                raise self.error(
                    f"{self.name} exited during start-up on port {self._port}; "
                    f"log {self.log_path}:\n{self._log_tail()}"
                )
            self._port = free_port()  # lost a race for the port: try another
        self._port_pinned = True  # a restart comes back where clients expect it
        if self._seed is not None:
            self._seed(self)
        return self

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period; returns once the process is reaped."""
        self._signal(signal.SIGTERM, grace=_STOP_GRACE)

    def kill(self) -> None:
        """SIGKILL at once: a crash, which clients see as connection refused."""
        self._signal(signal.SIGKILL, grace=0.0)

    def pause(self) -> None:
        """SIGSTOP: a hung server (connections accepted, never answered)."""
        if not self.running:
            raise self.error("pause() needs a running server")
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause()`; harmless on a server that is not paused."""
        if self.running:
            assert self._proc is not None
            self._proc.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """stop() then start() on the same port; the data is gone, `seed` runs again."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and remove the work directory if this object created it."""
        self.stop()
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        if not self.running:
            try:
                self.start()
            except BaseException:
                self.close()
                raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------

    def _wait_ready(self) -> bool:
        """True once ready; False if the process exited; `error` on timeout."""
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if not self.running:
                return False
            if self._ready():
                return True
            time.sleep(self.poll_interval)
        self.stop()
        raise self.error(
            f"{self.name} on port {self._port} not ready after {self._start_timeout:.0f}s; "
            f"log {self.log_path}:\n{self._log_tail()}"
        )

    def _signal(self, signum: signal.Signals, *, grace: float) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signum)
        proc.send_signal(signal.SIGCONT)  # a paused server acts on SIGTERM only once resumed
        try:
            proc.wait(timeout=grace or None)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join([line for line in lines if self._safe_line(line)][-_LOG_TAIL:])
