"""A real local Kubernetes control plane: etcd + kube-apiserver + kube-controller-manager.

A controller is only as good as the API server it was tested against, so the
tests run against the real thing, compiled from the Go modules of one pinned
Kubernetes release by `hack/build-controlplane.sh` (cached outside the repo).

Design choices:
- Every process listens on a free loopback port and keeps all state under one
  data directory, so several clusters (a developer's and a test run's) coexist.
- Authentication is by static bearer tokens: an admin in `system:masters` and a
  non-admin user with no bindings at all, so tests can prove what RBAC denies.
  The controller-manager runs as a `system:masters` identity too: a test
  harness does not need its per-controller service-account credentials.
- Only the controllers the tests rely on run (garbage collection of
  ownerReferences, namespace deletion, service accounts, type checking of
  admission policies, Deployments' ReplicaSets for rollout restarts, issue 14):
  fewer goroutines on a 2-core machine.
- `stop()` kills exactly the PIDs this harness started, after checking that
  each PID still runs a command line naming this cluster's data directory (PIDs
  are reused). State lives in `state.json`, so `cluster down` in another
  process can stop a cluster `cluster up` started.
- Children of a pytest session die with it (`die_with_parent`), so a killed
  test run leaves no apiserver behind.
- During start-up, whether a process is still alive is asked of its handle
  (`Popen.poll`), never of /proc: for a moment after `Popen` returns, the child
  is still inside execve and its /proc command line is empty (measured: 94 of
  100 reads right after starting kube-apiserver), so the identity check that
  guards `stop()` would call a healthy process dead. A start that fails stops
  its own children by handle too: an unreaped child's PID cannot be reused.
  A start whose process found its port taken starts again on new ports.
- Fault injection (bench/chaos.py) restarts one process of a running cluster:
  `stop_process` stops it by PID under the same rule as `stop()` and returns
  its command line, read from /proc, so `start_process` brings back exactly
  that process (same ports, same data) without a copy of the flags here.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import httpx2 as httpx
import yaml

from secretloom.testing import assets, pki

_BUILD_SCRIPT = assets.path("hack/build-controlplane.sh")
_STOP_ORDER = ("kube-controller-manager", "kube-apiserver", "etcd")
_START_ATTEMPTS = 3
# What Go's net.Listen says, in etcd's and the API server's logs, when a port is taken.
_PORT_IN_USE = "address already in use"
ADMIN_USER = "secretloom-admin"
NONADMIN_USER = "secretloom-user"


class ControlPlaneError(Exception):
    """The control plane could not be built, started or stopped; the message says why."""


class PortInUse(ControlPlaneError):
    """A process exited at start-up because its port was taken since `free_port` chose it."""


def cache_root() -> Path:
    explicit = os.environ.get("SECRETLOOM_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "secretloom"


def default_data_dir(name: str) -> Path:
    return cache_root() / "clusters" / name


def binaries(progress: IO[str] | None = None) -> Path:
    """The directory holding etcd, kube-apiserver, kube-controller-manager and kubectl.

    `SECRETLOOM_CONTROLPLANE_BIN` wins; otherwise the build script is run, which
    returns at once when its cache is warm and builds (10-20 min) when cold.
    """
    explicit = os.environ.get("SECRETLOOM_CONTROLPLANE_BIN")
    if explicit:
        return _check_binaries(Path(explicit))
    if not _BUILD_SCRIPT.is_file():
        raise ControlPlaneError(
            "control-plane binaries not found: set SECRETLOOM_CONTROLPLANE_BIN to a directory "
            "with etcd and kube-apiserver, or run from a source checkout (hack/ builds them)"
        )
    if shutil.which("go") is None:
        raise ControlPlaneError(
            "building the control plane needs the Go toolchain (go >= 1.24) on PATH; "
            "install it, or set SECRETLOOM_CONTROLPLANE_BIN to prebuilt binaries"
        )
    result = subprocess.run(
        ["bash", str(_BUILD_SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=progress if progress is not None else sys.stderr,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ControlPlaneError(f"control-plane build failed (exit {result.returncode})")
    return _check_binaries(Path(result.stdout.strip().splitlines()[-1]))


def _check_binaries(bin_dir: Path) -> Path:
    missing = [
        name
        for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
        if not os.access(bin_dir / name, os.X_OK)
    ]
    if missing:
        raise ControlPlaneError(f"{bin_dir} lacks {', '.join(missing)}")
    return bin_dir


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Identity:
    user: str
    token: str
    kubeconfig: Path


@dataclass(frozen=True)
class Cluster:
    data_dir: Path
    bin_dir: Path
    server: str
    etcd_url: str
    ca_cert: Path
    admin: Identity
    user: Identity
    pids: dict[str, int]

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (what `cluster up` prints)."""
        return self.admin.kubeconfig

    @property
    def user_kubeconfig(self) -> Path:
        """A kubeconfig for the non-admin user, who has no RBAC bindings by default."""
        return self.user.kubeconfig

    @classmethod
    def load(cls, data_dir: Path) -> Cluster:
        try:
            state = json.loads((data_dir / "state.json").read_text())
        except FileNotFoundError:
            raise ControlPlaneError(f"no cluster state in {data_dir}") from None
        return cls(
            data_dir=Path(state["data_dir"]),
            bin_dir=Path(state["bin_dir"]),
            server=state["server"],
            etcd_url=state["etcd_url"],
            ca_cert=Path(state["ca_cert"]),
            admin=Identity(**{**state["admin"], "kubeconfig": Path(state["admin"]["kubeconfig"])}),
            user=Identity(**{**state["user"], "kubeconfig": Path(state["user"]["kubeconfig"])}),
            pids={k: int(v) for k, v in state["pids"].items()},
        )

    def _save(self) -> None:
        state = asdict(self)
        (self.data_dir / "state.json").write_text(json.dumps(state, default=str, indent=2))

    def kubectl(self, *args: str, user: bool = False, check: bool = True) -> str:
        """Run the control plane's own kubectl; returns stdout."""
        kubeconfig = self.user_kubeconfig if user else self.kubeconfig
        result = subprocess.run(
            [str(self.bin_dir / "kubectl"), "--kubeconfig", str(kubeconfig), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if check and result.returncode != 0:
            raise ControlPlaneError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def running(self) -> dict[str, bool]:
        return {name: _is_ours(pid, self.data_dir) for name, pid in self.pids.items()}

    def ready(self) -> bool:
        try:
            return _get(self, "/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, *, remove_data: bool = True) -> None:
        """Stop exactly the processes this cluster started, then remove its data."""
        for name in _STOP_ORDER:
            pid = self.pids.get(name)
            if pid is not None and _is_ours(pid, self.data_dir):
                _terminate(pid)
        survivors = [n for n, alive in self.running().items() if alive]
        if survivors:
            raise ControlPlaneError(f"processes still running after stop: {survivors}")
        if remove_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def stop_process(self, name: str) -> list[str]:
        """Stop one process of this cluster (SIGTERM, then SIGKILL); returns its command line."""
        pid = self.pids[name]
        if not _is_ours(pid, self.data_dir):
            raise ControlPlaneError(f"{name} (pid {pid}) is not running in {self.data_dir}")
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        _terminate(pid)
        return argv

    def start_process(self, argv: Sequence[str], *, die_with_parent: bool = False) -> None:
        """Start again a process `stop_process` stopped; returns at once (poll `ready()`)."""
        name = Path(argv[0]).name
        if _is_ours(self.pids[name], self.data_dir):
            raise ControlPlaneError(f"{name} is already running in {self.data_dir}")
        launch = _launcher(self.bin_dir, self.data_dir / "logs", die_with_parent)
        self.pids[name] = launch(name, *argv[1:]).pid
        self._save()


def start(
    data_dir: Path,
    *,
    bin_dir: Path | None = None,
    die_with_parent: bool = False,
    timeout: float = 120.0,
    apiserver_args: tuple[str, ...] = (),
) -> Cluster:
    """Start etcd, kube-apiserver and kube-controller-manager; return once usable.

    Usable means `/readyz` answers 200 and the controller-manager has created the
    `default` service account (so garbage collection and namespace deletion run).
    `apiserver_args` adds flags (tests that need e.g. `--watch-cache=false`).

    A start whose port was taken before its process bound it starts again on new ports
    (`free_port` closes the port it picked, and any outgoing connection may draw that
    port from the same ephemeral range before the server binds it); other failures
    are reported at once.
    """
    bin_dir = bin_dir or binaries()
    if (data_dir / "state.json").exists():
        existing = Cluster.load(data_dir)
        if any(existing.running().values()):
            raise ControlPlaneError(f"a cluster is already running in {data_dir}")
    for _ in range(_START_ATTEMPTS - 1):
        with contextlib.suppress(PortInUse):
            return _start_once(data_dir, bin_dir, die_with_parent, timeout, apiserver_args)
    return _start_once(data_dir, bin_dir, die_with_parent, timeout, apiserver_args)


def _start_once(
    data_dir: Path,
    bin_dir: Path,
    die_with_parent: bool,
    timeout: float,
    apiserver_args: tuple[str, ...],
) -> Cluster:
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    data_dir.chmod(0o700)
    certs = pki.generate(data_dir / "pki")
    server_port, etcd_port, peer_port = free_port(), free_port(), free_port()
    server = f"https://127.0.0.1:{server_port}"

    admin_token, user_token, cm_token = (secrets.token_urlsafe(32) for _ in range(3))
    tokens = data_dir / "tokens.csv"
    tokens.write_text(
        f'{admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n'
        f'{user_token},{NONADMIN_USER},{NONADMIN_USER},"secretloom:users"\n'
        f'{cm_token},system:kube-controller-manager,kcm,"system:masters"\n'
    )
    tokens.chmod(0o600)
    admin = Identity(ADMIN_USER, admin_token, data_dir / "admin.kubeconfig")
    user = Identity(NONADMIN_USER, user_token, data_dir / "user.kubeconfig")
    cm_kubeconfig = data_dir / "controller-manager.kubeconfig"
    for identity_user, token, path in (
        (ADMIN_USER, admin_token, admin.kubeconfig),
        (NONADMIN_USER, user_token, user.kubeconfig),
        ("kcm", cm_token, cm_kubeconfig),
    ):
        _write_kubeconfig(path, server, certs.ca_cert, identity_user, token)

    logs = data_dir / "logs"
    logs.mkdir()
    launch = _launcher(bin_dir, logs, die_with_parent)
    pids: dict[str, int] = {}
    children: dict[str, subprocess.Popen[bytes]] = {}
    etcd_url = f"http://127.0.0.1:{etcd_port}"
    cluster = Cluster(data_dir, bin_dir, server, etcd_url, certs.ca_cert, admin, user, pids)

    def spawn(name: str, *args: str) -> None:
        children[name] = launch(name, *args)
        pids[name] = children[name].pid
        cluster._save()

    try:
        peer_url = f"http://127.0.0.1:{peer_port}"
        spawn(
            "etcd",
            "--name=local",
            f"--data-dir={data_dir / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=local={peer_url}",
            "--unsafe-no-fsync",  # throwaway data: durability costs start-up time
            "--log-level=warn",
        )
        spawn(
            "kube-apiserver",
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={server_port}",
            f"--tls-cert-file={certs.serving_cert}",
            f"--tls-private-key-file={certs.serving_key}",
            f"--cert-dir={data_dir / 'pki'}",
            f"--token-auth-file={tokens}",
            "--authorization-mode=RBAC",
            "--anonymous-auth=false",
            f"--service-account-key-file={certs.sa_public_key}",
            f"--service-account-signing-key-file={certs.sa_private_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            # The API server's own audience only, as on a real cluster: a token minted
            # for Vault must not be an API credential here either, or tests would
            # miss what the controller's checks catch in production.
            "--api-audiences=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--profiling=false",
            "--v=0",
            *apiserver_args,
        )
        wait_started(
            children,
            logs,
            cluster.ready,
            "kube-apiserver /readyz",
            timeout,
        )
        spawn(
            "kube-controller-manager",
            f"--kubeconfig={cm_kubeconfig}",
            f"--authentication-kubeconfig={cm_kubeconfig}",
            f"--authorization-kubeconfig={cm_kubeconfig}",
            "--secure-port=0",
            "--leader-elect=false",
            "--controllers=garbage-collector-controller,namespace-controller,"
            "deployment-controller,"
            "serviceaccount-controller,serviceaccount-token-controller,"
            "root-ca-certificate-publisher-controller,"
            "validatingadmissionpolicy-status-controller",
            f"--service-account-private-key-file={certs.sa_private_key}",
            f"--root-ca-file={certs.ca_cert}",
            "--v=0",
        )
        wait_started(
            children,
            logs,
            lambda: (
                _get(cluster, "/api/v1/namespaces/default/serviceaccounts/default").status_code
                == 200
            ),
            "kube-controller-manager (default service account)",
            timeout,
        )
    except BaseException:
        for name in _STOP_ORDER:  # the data stays: its logs say what went wrong
            if name in children:
                stop_child(children[name])
        raise
    return cluster


@contextlib.contextmanager
def running(data_dir: Path, **kwargs: Any) -> Iterator[Cluster]:
    """A cluster for the duration of a `with` block; always stopped, even on Ctrl-C."""
    cluster = start(data_dir, **kwargs)
    try:
        yield cluster
    finally:
        cluster.stop()


def _write_kubeconfig(path: Path, server: str, ca: Path, user: str, token: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "local", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
        "current-context": "local",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)


def _launcher(
    bin_dir: Path, logs: Path, die_with_parent: bool
) -> Callable[..., subprocess.Popen[bytes]]:
    def launch(name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (logs / f"{name}.log").open("ab")
        with log:
            return subprocess.Popen(
                [str(bin_dir / name), *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a terminal reaches only us; we stop them
                preexec_fn=kill_with_parent if die_with_parent else None,  # noqa: PLW1509
            )

    return launch


def kill_with_parent() -> None:
    """preexec_fn: the child gets SIGKILL when the process that started it dies."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _get(cluster: Cluster, path: str) -> httpx.Response:
    return httpx.get(
        cluster.server + path,
        headers={"Authorization": f"Bearer {cluster.admin.token}"},
        verify=ssl.create_default_context(cafile=str(cluster.ca_cert)),
        timeout=5.0,
    )


def wait_started(
    children: Mapping[str, subprocess.Popen[bytes]],
    logs: Path,
    ready: Callable[[], bool],
    what: str,
    timeout: float,
) -> None:
    """Poll `ready` until it holds; raise at once, with its log's tail, if a child exits first.

    `children` maps a name to its process, whose output goes to `logs/<name>.log`.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, child in children.items():
            if child.poll() is not None:
                log = logs / f"{name}.log"
                tail = _tail(log)
                error = PortInUse if _PORT_IN_USE in tail else ControlPlaneError
                raise error(
                    f"{name} exited during start-up ({_exit_reason(child.returncode)}); "
                    f"last lines of {log}:\n{tail}"
                )
        with contextlib.suppress(httpx.HTTPError):
            if ready():
                return
        time.sleep(0.1)
    raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for {what}")


def _exit_reason(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
        return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def _tail(log: Path, lines: int = 20) -> str:
    try:
        text = "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
    return text or "(empty)"


def stop_child(child: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM, SIGKILL after `grace`; a no-op once it has exited. For a child of this process
    only: it is not reaped until then, so its PID cannot be another's (no identity check)."""
    if child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(grace)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _is_ours(pid: int, data_dir: Path) -> bool:
    """True if `pid` is alive (not a zombie) and its command line names `data_dir`.

    For processes past their start-up only: one still inside execve reads as not ours.
    """
    proc = Path(f"/proc/{pid}")
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state != "Z" and str(data_dir).encode() in cmdline


def _terminate(pid: int, grace: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and is_alive(pid):
        time.sleep(0.05)
    if is_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while is_alive(pid):
            time.sleep(0.05)


def is_alive(pid: int) -> bool:
    """True unless `pid` has exited (a zombie counts as exited)."""
    # Reap our own children so a finished one does not linger as a zombie.
    with contextlib.suppress(ChildProcessError):
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
