"""A real AWS API emulator (moto in server mode), started and stopped by PID.

The AWS providers are tested against moto's Secrets Manager, Parameter Store,
STS and KMS, served over HTTP on loopback exactly as a client meets AWS
(issue 16), the way `testing/openbao.py` serves OpenBao: `moto[server]`
from PyPI, a subprocess this harness owns.

Design choices (the lifecycle — loopback port kept across restarts, `seed` after
every start, pause/kill — is `testing/server.py`'s, shared with OpenBao):
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
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3

from secretloom.testing.moto_main import THROTTLE_PATH
from secretloom.testing.server import LoopbackServer, ServerError

REGION = "us-east-1"
# moto's defaults: any key is accepted until `enforcing_auth`, and its account is this one.
ACCESS_KEY = "testing"
SECRET_KEY = "testing"  # noqa: S105 (moto's documented dummy key)
ACCOUNT_ID = "123456789012"
_PROBE_TIMEOUT = 0.5


class MotoError(ServerError):
    """The emulator could not be started or stopped; the message says why."""


class MotoServer(LoopbackServer):
    """One moto server. Use as a context manager, or call start() and close()."""

    name = "moto"
    log_name = "moto.log"
    error = MotoError
    poll_interval = 0.1

    def __init__(
        self,
        *,
        port: int | None = None,
        work_dir: Path | None = None,
        seed: Callable[[MotoServer], None] | None = None,
        die_with_parent: bool = False,
        start_timeout: float = 60.0,
    ) -> None:
        super().__init__(
            port=port,
            work_dir=work_dir,
            seed=seed,
            die_with_parent=die_with_parent,
            start_timeout=start_timeout,
        )

    # -- where it is ------------------------------------------------------------

    @property
    def address(self) -> str:
        """The endpoint URL of every service, e.g. `http://127.0.0.1:40123`."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def recording_path(self) -> Path:
        return self.work_dir / "requests.jsonl"

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
        self._spawn(args, env, cwd=self.work_dir)

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
