"""A real AWS API emulator (moto in server mode), started and stopped by PID.

The AWS providers are tested against moto's Secrets Manager, Parameter Store,
STS and KMS, served over HTTP on loopback exactly as a client meets AWS
(issue 16), the way `testing/openbao.py` serves OpenBao: `moto[server]`
from PyPI, a subprocess this harness owns.

Design choices (the OpenBao harness's, where they apply):
- Loopback only, on a free port; the port is kept across `stop()`/`start()`
  so an outage test sees the same address come back. moto keeps its state
  in memory: a restart starts empty, and `seed` runs after every start.
- The process is `secretloom.testing.moto_main`: moto's own WSGI application
  behind a gate that can answer the next N Secrets Manager / Parameter Store
  calls with `ThrottlingException` (`throttle`), which moto cannot do itself.
- moto records every request it serves (its recorder, to `requests.jsonl` in
  the work directory): tests read it to count the calls a controller made
  (`calls`) and to see what a client sent (the web-identity token of an
  AssumeRoleWithWebIdentity), like OpenBao's audit log. The file holds what
  clients sent, tokens included, so it stays in the private work directory and
  is never printed.
- moto accepts any credentials until told otherwise; `enforcing_auth()` turns
  its IAM checks on (signatures and policies of keys it issued) for the
  duration of a `with` block: wrong keys are then refused as AWS refuses them.
- The child gets a minimal environment, so no AWS_* setting of the
  developer's leaks in; output goes to `moto.log`, never to the test output.
- `pause()` (SIGSTOP) is a hung endpoint, `kill()` a crashed one, and
  `die_with_parent` makes a killed test run take the server with it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3

from secretloom.testing.cluster import free_port, kill_with_parent
from secretloom.testing.moto_main import THROTTLE_PATH

REGION = "us-east-1"
# moto's defaults: any key is accepted until `enforcing_auth`, and its account is this one.
ACCESS_KEY = "testing"
SECRET_KEY = "testing"  # noqa: S105 (moto's documented dummy key)
ACCOUNT_ID = "123456789012"
_START_ATTEMPTS = 3
_STOP_GRACE = 10.0
_LOG_TAIL = 20
_PROBE_TIMEOUT = 0.5


class MotoError(Exception):
    """The emulator could not be started or stopped; the message says why."""


class MotoServer:
    """One moto server. Use as a context manager, or call start() and close()."""

    def __init__(
        self,
        *,
        port: int | None = None,
        work_dir: Path | None = None,
        seed: Callable[[MotoServer], None] | None = None,
        die_with_parent: bool = False,
        start_timeout: float = 60.0,
    ) -> None:
        self._port_pinned = port is not None
        self._port = port or free_port()
        self._own_work_dir = work_dir is None
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="secretloom-moto-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._seed = seed
        self._die_with_parent = die_with_parent
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    # -- where it is ------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def address(self) -> str:
        """The endpoint URL of every service, e.g. `http://127.0.0.1:40123`."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "moto.log"

    @property
    def recording_path(self) -> Path:
        return self.work_dir / "requests.jsonl"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def client(
        self,
        service: str,
        *,
        access_key: str = ACCESS_KEY,
        secret_key: str = SECRET_KEY,
        session_token: str | None = None,
    ) -> Any:
        """A boto3 client of `service` on this server, for seeding and inspection."""
        session = boto3.session.Session(
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=session_token,
            region_name=REGION,
        )
        return session.client(service, endpoint_url=self.address)  # type: ignore[call-overload]

    # -- what clients did ---------------------------------------------------------

    def requests(self) -> list[dict[str, Any]]:
        """Every request served since the last start, oldest first (moto's recorder)."""
        try:
            text = self.recording_path.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def calls(self, operation: str, *, containing: str | None = None) -> int:
        """Requests whose operation (X-Amz-Target suffix or Action) is `operation`.

        With `containing`, only those whose body mentions that text (a secret's name).
        """
        return sum(
            1
            for entry in self.requests()
            if operation_of(entry) == operation
            and (containing is None or containing in body_of(entry))
        )

    def throttle(self, count: int) -> None:
        """The next `count` Secrets Manager / Parameter Store calls answer ThrottlingException."""
        self._post(THROTTLE_PATH, str(count))

    @contextlib.contextmanager
    def enforcing_auth(self) -> Iterator[None]:
        """moto checks signatures and IAM policies inside the block, as AWS does."""
        self._post("/moto-api/reset-auth", "0")
        try:
            yield
        finally:
            if self.running:
                self._post("/moto-api/reset-auth", "inf")

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> MotoServer:
        """Start (or start again, on the same port) and return once it answers."""
        if self.running:
            raise MotoError(f"moto is already running at {self.address} (pid {self.pid})")
        for attempt in range(1, _START_ATTEMPTS + 1):
            self._launch()
            if self._wait_ready():
                break
            if self._port_pinned or attempt == _START_ATTEMPTS:
                raise MotoError(
                    f"moto exited during start-up on port {self._port}; "
                    f"log {self.log_path}:\n{self._log_tail()}"
                )
            self._port = free_port()
        self._port_pinned = True
        if self._seed is not None:
            self._seed(self)
        return self

    def stop(self) -> None:
        self._signal(signal.SIGTERM, grace=_STOP_GRACE)

    def kill(self) -> None:
        """SIGKILL at once: clients see connection refused."""
        self._signal(signal.SIGKILL, grace=0.0)

    def pause(self) -> None:
        """SIGSTOP: connections are accepted and never answered."""
        if not self.running:
            raise MotoError("pause() needs a running server")
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.running:
            assert self._proc is not None
            self._proc.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """stop() then start() on the same port; the data is gone, `seed` runs again."""
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> MotoServer:
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
        self.recording_path.unlink(missing_ok=True)
        args = [sys.executable, "-m", "secretloom.testing.moto_main", "--port", str(self._port)]
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.work_dir),
            "MOTO_ENABLE_RECORDING": "1",
            "MOTO_RECORDER_FILEPATH": str(self.recording_path),
        }
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
                cwd=self.work_dir,
                start_new_session=True,
                preexec_fn=kill_with_parent if self._die_with_parent else None,  # noqa: PLW1509
            )

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if not self.running:
                return False
            if self._ready():
                return True
            time.sleep(0.1)
        self.stop()
        raise MotoError(
            f"moto at {self.address} not answering after {self._start_timeout:.0f}s; "
            f"log {self.log_path}:\n{self._log_tail()}"
        )

    def _ready(self) -> bool:
        try:
            self._post(THROTTLE_PATH, "0", timeout=_PROBE_TIMEOUT)
        except (OSError, MotoError):
            return False
        return True

    def _post(self, path: str, body: str, timeout: float = 10.0) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self._port, timeout=timeout)
        try:
            connection.request("POST", path, body=body.encode())
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise MotoError(f"POST {path} answered HTTP {response.status}")
        finally:
            connection.close()

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
        return "\n".join(lines[-_LOG_TAIL:])


def operation_of(entry: dict[str, Any]) -> str:
    """The operation of a recorded request: `GetSecretValue`, `AssumeRoleWithWebIdentity`."""
    headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
    target = str(headers.get("x-amz-target", ""))
    if target:
        return target.rsplit(".", 1)[-1]
    for part in body_of(entry).split("&"):
        name, _, value = part.partition("=")
        if name == "Action":
            return value
    return ""


def body_of(entry: dict[str, Any]) -> str:
    """The recorded request body as text."""
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        import base64

        return base64.b64decode(body).decode("utf-8", "replace")
    return str(body)
