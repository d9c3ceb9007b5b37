"""A real PostgreSQL server for OpenBao's database engine (dynamic secrets, issue 14).

Dynamic credentials are only proven when they really log in, keep logging in
after a renewal and stop after a revocation, so the tests run Debian's
PostgreSQL (`hack/install-postgres.sh` unpacks it into the cache), not a fake.

Design choices, those of `openbao.py`:
- Loopback only, on a free port; the Unix socket lives in the data directory.
- An unprivileged user: PostgreSQL refuses to run as root, so under root
  (CI) the server runs as `nobody`, from a copy of the unpacked tree in the
  work directory (the cache under root's home is not readable by `nobody`).
- The superuser password is random, goes to `initdb` through a file (mode
  0600, removed after), and to `psql` through the environment, never argv.
- `die_with_parent` (PR_SET_PDEATHSIG) makes a killed test run take the server
  with it; `stop()` ends exactly the process this object started.
- `can_login` runs the real client (`psql`) with the credentials under test:
  the only evidence the tests accept.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from secretloom.testing import assets
from secretloom.testing.cluster import free_port, kill_with_parent

_INSTALL_SCRIPT = "hack/install-postgres.sh"
_UNPRIVILEGED = "nobody"
_ROLE_PREFIX = re.compile(r"[a-z0-9_-]{1,32}")
_STOP_GRACE = 10.0


class PostgresError(Exception):
    """The server could not be found, started or stopped; the message says why."""


def find_postgres() -> Path:
    """The bin directory of the unpacked server: `SECRETLOOM_POSTGRES_BIN`, else the script's."""
    explicit = os.environ.get("SECRETLOOM_POSTGRES_BIN")
    if explicit:
        return Path(explicit)
    result = subprocess.run(
        ["bash", str(assets.path(_INSTALL_SCRIPT))],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise PostgresError(f"{_INSTALL_SCRIPT} failed (exit {result.returncode})")
    return Path(result.stdout.strip().splitlines()[-1])


class PostgresServer:
    """One PostgreSQL server. Use as a context manager, or call start() and close()."""

    superuser = "postgres"

    def __init__(self, *, bin_dir: Path | None = None, die_with_parent: bool = False) -> None:
        self.password = f"pg-{secrets.token_urlsafe(18)}"
        self.port = free_port()
        self.work_dir = Path(tempfile.mkdtemp(prefix="secretloom-postgres-"))
        self.work_dir.chmod(0o755)
        self._bin_dir = bin_dir
        self._die_with_parent = die_with_parent
        self._proc: subprocess.Popen[bytes] | None = None
        self._bin: Path | None = None
        self._user = pwd.getpwnam(_UNPRIVILEGED) if os.geteuid() == 0 else None

    @property
    def data_dir(self) -> Path:
        return self.work_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "postgres.log"

    def connection_url(self) -> str:
        """OpenBao's `connection_url`, with its own `{{username}}`/`{{password}}` placeholders."""
        return (
            f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{self.port}/postgres"
            "?sslmode=disable"
        )

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> PostgresServer:
        self._bin = self._binaries()
        if not self.data_dir.exists():
            self._initdb()
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    str(self._bin / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"port={self.port}",
                    "-c",
                    f"unix_socket_directories={self.data_dir}",
                    "-c",
                    "fsync=off",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                start_new_session=True,
                preexec_fn=kill_with_parent if self._die_with_parent else None,  # noqa: PLW1509
                user=self._uid,
                group=self._gid,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise PostgresError(f"postgres exited during start-up; see {self.log_path}")
            if self._ready():
                return self
            time.sleep(0.1)
        raise PostgresError(f"postgres not ready after 30s; see {self.log_path}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # "fast" shutdown: disconnects clients
        try:
            proc.wait(timeout=_STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- what tests ask ---------------------------------------------------------------

    def can_login(self, user: str, password: str) -> bool:
        """Does the real client get in with these credentials (and run a query)?"""
        result = self._psql(user, password, "SELECT 1")
        return result.returncode == 0 and result.stdout.strip() == "1"

    def create_login_role(self, name: str, password: str) -> None:
        """A login role the tests hand to the engine as a static role."""
        if not _ROLE_PREFIX.fullmatch(name) or "'" in password:
            raise ValueError("not a plain role name or password")
        sql = f"CREATE ROLE \"{name}\" WITH LOGIN PASSWORD '{password}'"
        result = self._psql(self.superuser, self.password, sql)
        if result.returncode != 0:
            raise PostgresError(f"creating role {name!r} failed: {result.stderr.strip()[:200]}")

    def roles(self, prefix: str) -> list[str]:
        """Login roles whose name starts with `prefix` (what the engine created and left)."""
        if not _ROLE_PREFIX.fullmatch(prefix):
            raise ValueError(f"not a plain role-name prefix: {prefix!r}")
        sql = f"SELECT rolname FROM pg_roles WHERE rolname LIKE '{prefix}%' ORDER BY 1"  # noqa: S608 (checked above)
        result = self._psql(self.superuser, self.password, sql)
        if result.returncode != 0:
            raise PostgresError(f"listing roles failed: {result.stderr.strip()[:200]}")
        return result.stdout.split()

    # -- internals ----------------------------------------------------------------------

    def _binaries(self) -> Path:
        source = self._bin_dir or find_postgres()
        if self._user is None:
            return source
        # Under root: a copy the unprivileged user can read (…/usr/lib/postgresql/NN/bin).
        root = source.parents[4]
        copy = self.work_dir / "root"
        if not copy.exists():
            shutil.copytree(root, copy, symlinks=True)
        return copy / source.relative_to(root)

    def _env(self) -> dict[str, str]:
        assert self._bin is not None
        root = self._bin.parents[4]
        libs = [str(p) for p in (root / "usr" / "lib").glob("*-linux-gnu") if p.is_dir()]
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.work_dir), "LC_ALL": "C"}
        if libs:
            env["LD_LIBRARY_PATH"] = ":".join(libs)
        return env

    @property
    def _uid(self) -> int | None:
        return self._user.pw_uid if self._user is not None else None

    @property
    def _gid(self) -> int | None:
        return self._user.pw_gid if self._user is not None else None

    def _initdb(self) -> None:
        assert self._bin is not None
        self.data_dir.mkdir(mode=0o700)
        secret = self.work_dir / "pwfile"
        secret.write_text(self.password + "\n")
        secret.chmod(0o600)
        if self._user is not None:
            for path in (self.data_dir, secret):
                os.chown(path, self._user.pw_uid, self._user.pw_gid)
            os.chown(self.work_dir, self._user.pw_uid, self._user.pw_gid)
        try:
            result = subprocess.run(
                [
                    str(self._bin / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.superuser,
                    "--auth=scram-sha-256",
                    f"--pwfile={secret}",
                    "--no-sync",
                ],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                env=self._env(),
                check=False,
                user=self._uid,
                group=self._gid,
            )
        finally:
            secret.unlink()
        if result.returncode != 0:
            raise PostgresError(f"initdb failed: {result.stderr.strip()[-400:]}")

    def _ready(self) -> bool:
        return self.can_login(self.superuser, self.password)

    def _psql(self, user: str, password: str, sql: str) -> subprocess.CompletedProcess[str]:
        assert self._bin is not None
        env = {**self._env(), "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"}
        return subprocess.run(
            [
                str(self._bin / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                user,
                "-d",
                "postgres",
                "-tAc",
                sql,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=15,
        )
