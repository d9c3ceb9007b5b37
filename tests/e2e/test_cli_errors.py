"""Every kubeconfig problem is one line and exit 1; exec plugins v1 and v1beta1 work.

The CLI runs as a user runs it (a subprocess, a clean environment without
KUBECONFIG, an empty HOME). For each way a kubeconfig can be unusable,
`secretloom controller`, `install-crds` and `render --kubeconfig` print exactly
one stderr line starting `secretloom: error:` and exit 1, never a traceback
(issue 10). The exec credential plugin is a real program, run the way
kubectl runs `aws eks get-token` or kubelogin, printing an `ExecCredential`
with the real control plane's admin token, so authentication really goes
through it. Also here: the metrics port already taken, and helm's own
`Error:` line (not "Use --debug flag…") when a chart fails.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from secretloom.runtime.kube import ApiError, KubeClient
from secretloom.runtime.kubeconfig import SERVICE_ACCOUNT
from secretloom.runtime.resources import NAMESPACES, SERVICE_ACCOUNTS
from secretloom.testing import cluster as local
from secretloom.testing import controller
from secretloom.testing.cluster import free_port
from secretloom.testing.tools import go_tools_dir
from tests.e2e import kit

SECRETLOOM = Path(sys.executable).parent / "secretloom"
V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
ERROR = "secretloom: error: "

# A credential plugin as EKS, GKE and kubelogin ship them: it checks the
# request kubectl would send, counts its runs, and prints an ExecCredential.
PLUGIN = """#!{python}
import datetime, json, os, sys
info = json.loads(os.environ.get("KUBERNETES_EXEC_INFO") or "{{}}")
version = os.environ["PLUGIN_API_VERSION"]
spec = info.get("spec") or {{}}
if info.get("apiVersion") != version or spec.get("interactive") is not False:
    sys.exit("KUBERNETES_EXEC_INFO is missing or wrong")
if not (spec.get("cluster") or {{}}).get("certificate-authority-data"):
    sys.exit("provideClusterInfo was not honoured")
with open(os.environ["RUNS_FILE"], "a") as runs:
    runs.write("run\\n")
if os.environ.get("FAIL"):
    sys.exit("please wait\\n" + os.environ["FAIL"])
status = {{"token": open(os.environ["TOKEN_FILE"]).read().strip()}}
if os.environ.get("EXPIRES_IN"):
    later = datetime.timedelta(seconds=float(os.environ["EXPIRES_IN"]))
    moment = datetime.datetime.now(datetime.timezone.utc) + later
    status["expirationTimestamp"] = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
print(json.dumps({{"apiVersion": version, "kind": "ExecCredential", "status": status}}))
"""


def cli(
    *args: str, cwd: Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), **(extra_env or {})}
    return subprocess.run(
        [str(SECRETLOOM), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed command (exit code 1)."""
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(ERROR), done.stderr
    assert done.stdout == ""
    return lines[0]


def config(user: dict[str, Any] | None = None) -> dict[str, Any]:
    """A kubeconfig for a server nothing listens on: problems show before any request."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{free_port()}"}}],
        "users": [{"name": "u", "user": user or {"token": "t"}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }


def exec_user(api_version: str, **extra: Any) -> dict[str, Any]:
    return {"exec": {"apiVersion": api_version, "command": "/bin/true", **extra}}


# name -> (kubeconfig text, what the one line must say)
PROBLEMS: dict[str, tuple[str | None, str]] = {
    "missing": (None, "No such file or directory"),
    "not-yaml": ("clusters: [\n", "not valid YAML (line 2)"),
    "not-a-mapping": ("just some text\n", "not a kubeconfig"),
    "wrong-shape": ("clusters: 1\ncontexts: []\n", "not a valid kubeconfig"),
    "no-current-context": (
        yaml.safe_dump({k: v for k, v in config().items() if k != "current-context"}),
        "no current-context is set",
    ),
    "unknown-context": (
        yaml.safe_dump({**config(), "current-context": "gone"}),
        "current-context 'gone' is not one of its contexts",
    ),
    "undefined-user": (
        yaml.safe_dump({**config(), "users": []}),
        "names user 'u', which is not defined",
    ),
    "auth-provider": (
        yaml.safe_dump(config({"auth-provider": {"name": "gcp"}})),
        "auth-provider not supported",
    ),
    "exec-v1alpha1": (
        yaml.safe_dump(config(exec_user("client.authentication.k8s.io/v1alpha1"))),
        "exec apiVersion 'client.authentication.k8s.io/v1alpha1' is not supported",
    ),
    "exec-interactive": (
        yaml.safe_dump(config(exec_user(V1, interactiveMode="Always"))),
        "needs a terminal (interactiveMode: Always)",
    ),
}
COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "controller": lambda k: ["controller", "--kubeconfig", str(k), "--metrics-addr", ""],
    "install-crds": lambda k: ["install-crds", "--kubeconfig", str(k)],
    "render": lambda k: ["render", "--kubeconfig", str(k)],
}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A plain app directory (for render), also the cwd and HOME of every command."""
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    return tmp_path


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_each_kubeconfig_problem_is_one_line(workdir: Path, problem: str, command: str) -> None:
    text, expected = PROBLEMS[problem]
    kubeconfig = workdir / "kubeconfig"
    if text is not None:
        kubeconfig.write_text(text)
    line = one_line_error(cli(*COMMANDS[command](kubeconfig), cwd=workdir))
    assert line.startswith(f"{ERROR}kubeconfig {kubeconfig}: "), line
    assert expected in line


@pytest.fixture
def outside_a_pod() -> None:
    if (SERVICE_ACCOUNT / "token").exists():
        pytest.skip("running inside a Kubernetes pod")


@pytest.mark.usefixtures("outside_a_pod")
@pytest.mark.parametrize("command", ["controller", "install-crds"])
def test_no_kubeconfig_at_all_is_one_line(workdir: Path, command: str) -> None:
    args = [command, "--metrics-addr", ""] if command == "controller" else [command]
    line = one_line_error(cli(*args, cwd=workdir))
    assert "no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run in a pod" in line


@pytest.mark.usefixtures("outside_a_pod")
def test_render_in_cluster_outside_a_pod_is_one_line(workdir: Path) -> None:
    line = one_line_error(cli("render", "--in-cluster", cwd=workdir))
    assert "in-cluster configuration: not running in a Kubernetes pod" in line


# -- exec credential plugins, against the real control plane -----------------


class Plugin:
    """A plugin script and a kubeconfig that uses it for the cluster's admin."""

    def __init__(self, directory: Path, cluster: local.Cluster, api_version: str) -> None:
        directory.mkdir(exist_ok=True)
        self.runs_file = directory / "runs"
        self.token_file = directory / "token"
        self.admin_token = cluster.admin.token
        self.token_file.write_text(self.admin_token)
        script = directory / "plugin.py"
        script.write_text(PLUGIN.format(python=sys.executable))
        script.chmod(0o700)
        self.kubeconfig = directory / "exec.kubeconfig"
        self._directory = directory
        self._cluster = cluster
        self._api_version = api_version

    def write(self, **env: str) -> Path:
        admin = yaml.safe_load(self._cluster.kubeconfig.read_text())
        settings = {
            "PLUGIN_API_VERSION": self._api_version,
            "RUNS_FILE": str(self.runs_file),
            "TOKEN_FILE": str(self.token_file),
            **env,
        }
        stanza: dict[str, Any] = {
            "apiVersion": self._api_version,
            "command": "./plugin.py",  # relative to the kubeconfig, as client-go resolves it
            "env": [{"name": k, "value": v} for k, v in settings.items()],
            "provideClusterInfo": True,
            "installHint": "install the demo plugin\nsecond line",
        }
        if self._api_version == V1:
            stanza["interactiveMode"] = "IfAvailable"
        admin["users"] = [{"name": "exec", "user": {"exec": stanza}}]
        admin["contexts"][0]["context"]["user"] = "exec"
        self.kubeconfig.write_text(yaml.safe_dump(admin))
        return self.kubeconfig

    @property
    def runs(self) -> int:
        return len(self.runs_file.read_text().splitlines()) if self.runs_file.exists() else 0


@pytest.fixture(params=[V1, V1BETA1])
def plugin(request: pytest.FixtureRequest, cluster: local.Cluster, tmp_path: Path) -> Plugin:
    return Plugin(tmp_path / "plugin", cluster, request.param)


async def test_exec_plugin_authenticates_every_command(
    plugin: Plugin, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    """install-crds, render and the controller all authenticate through the plugin."""
    kubeconfig = plugin.write()
    installed = await asyncio.to_thread(
        cli, "install-crds", "--kubeconfig", str(kubeconfig), cwd=tmp_path
    )
    assert installed.returncode == 0, installed.stderr

    await kit.put_secret(kube, namespace, "src", {"key": "from-the-cluster"}, manager="team")
    app = tmp_path / "app"
    app.mkdir()
    (app / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
        f"data:\n  v: ref+k8s://v1/Secret/{namespace}/src/key\n"
    )
    env = {"ARGOCD_APP_NAME": "demo", "ARGOCD_APP_NAMESPACE": namespace}
    rendered = await asyncio.to_thread(
        cli, "render", "--kubeconfig", str(kubeconfig), cwd=app, extra_env=env
    )
    assert rendered.returncode == 0, rendered.stderr
    assert yaml.safe_load(rendered.stdout)["data"] == {"v": "from-the-cluster"}

    await kit.put_secret(kube, namespace, "source", {"token": "synced"}, manager="vso")
    await kit.apply_sync(
        kube, namespace, "sync", kit.sync_spec("target", {"token": ("source", "token")})
    )
    with controller.running(kubeconfig, tmp_path / "controller.log"):
        await kit.wait_condition(kube, namespace, "sync", "Ready", timeout=15)
    assert kit.values(await kit.get_secret(kube, namespace, "target")) == {"token": "synced"}


async def test_exec_credential_is_shared_and_cached_until_it_expires(
    plugin: Plugin, kube: KubeClient
) -> None:
    del kube  # the CRDs and the admin token are in place
    async with KubeClient.from_kubeconfig(plugin.write(EXPIRES_IN="2"), qps=0) as client:
        await asyncio.gather(*(client.get(NAMESPACES.path(name="default")) for _ in range(8)))
        assert plugin.runs == 1  # eight concurrent first requests, one plugin run
        await client.get(NAMESPACES.path(name="default"))
        assert plugin.runs == 1
        await asyncio.sleep(2.2)
        await client.get(NAMESPACES.path(name="default"))
        assert plugin.runs == 2  # expired: asked again


async def test_a_token_refused_when_fresh_is_not_retried_but_forgotten(plugin: Plugin) -> None:
    plugin.token_file.write_text("not-a-token")
    async with KubeClient.from_kubeconfig(plugin.write(EXPIRES_IN="600"), qps=0) as client:
        with pytest.raises(ApiError) as refused:
            await client.get("/version")
        assert refused.value.status == 401 and plugin.runs == 1
        plugin.token_file.write_text(plugin.admin_token)
        await client.get("/version")  # the refused token was dropped: the plugin ran again
        assert plugin.runs == 2


async def test_a_cached_token_refused_later_is_replaced_and_the_request_retried(
    plugin: Plugin, kube: KubeClient, namespace: str
) -> None:
    await kube.create(SERVICE_ACCOUNTS.path(namespace), {"metadata": {"name": "short-lived"}})
    minted = await kube.create(
        SERVICE_ACCOUNTS.path(namespace, "short-lived", "token"),
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )
    token = str(minted["status"]["token"])
    plugin.token_file.write_text(token)
    async with KubeClient.from_kubeconfig(plugin.write(EXPIRES_IN="600"), qps=0) as client:
        await client.get("/version")

        async def revoked() -> bool:
            return not await kube.accepts_token(token)

        # Deleting its ServiceAccount revokes the token (the API server may
        # cache its verdict for a few seconds).
        await kube.delete(SERVICE_ACCOUNTS.path(namespace, "short-lived"))
        await kit.eventually(revoked, timeout=30, interval=0.5)
        plugin.token_file.write_text(plugin.admin_token)
        await client.get("/version")  # 401 with the cached token, then retried with a new one
        assert plugin.runs == 2


def test_a_failing_exec_plugin_is_one_line(plugin: Plugin, workdir: Path) -> None:
    kubeconfig = plugin.write(FAIL="login required: run `demo login`")
    for args in (["install-crds"], ["render"]):
        (workdir / "cm.yaml").write_text("v: ref+k8s://v1/Secret/default/src/key\n")
        env = {"ARGOCD_APP_NAME": "demo", "ARGOCD_APP_NAMESPACE": "default"}
        line = one_line_error(
            cli(*args, "--kubeconfig", str(kubeconfig), cwd=workdir, extra_env=env)
        )
        assert "exec plugin" in line and "exited with code 1: login required" in line
        assert plugin.admin_token not in line


def test_a_missing_exec_plugin_names_its_install_hint(plugin: Plugin, workdir: Path) -> None:
    kubeconfig = plugin.write()
    (kubeconfig.parent / "plugin.py").unlink()
    line = one_line_error(cli("install-crds", "--kubeconfig", str(kubeconfig), cwd=workdir))
    assert "No such file or directory (install the demo plugin)" in line


# -- the metrics port, helm's error ------------------------------------------


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_metrics_port_in_use_is_one_line(
    cluster: local.Cluster, taken_port: int, workdir: Path
) -> None:
    address = f"127.0.0.1:{taken_port}"
    # --store-servers: the warning an empty list logs is not what is tested here.
    flags = ["--store-servers", "127.0.0.1", "--metrics-addr", address]
    done = cli("controller", "--kubeconfig", str(cluster.kubeconfig), *flags, cwd=workdir)
    assert one_line_error(done) == f"{ERROR}--metrics-addr {address}: Address already in use"


def test_helm_error_lines_are_kept_and_redacted(tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("password: ref+env://ARGOCD_ENV_PASSWORD\n")
    (chart / "templates" / "cm.yaml").write_text(
        '{{ fail (printf "no region for password %s" .Values.password) }}\n'
    )
    secret = "helm-canary-7f3a"
    env = {
        "PATH": f"{go_tools_dir()}{os.pathsep}{os.environ['PATH']}",
        "ARGOCD_APP_NAME": "demo",
        "ARGOCD_APP_NAMESPACE": "demo",
        "ARGOCD_ENV_PASSWORD": secret,
    }
    done = cli("render", cwd=chart, extra_env=env)
    line = one_line_error(done)
    assert "helm template failed: Error: execution error at" in line
    assert "no region for password ***" in line
    assert "--debug" not in line and secret not in done.stderr


# -- controller flags, checked before the kubeconfig is read -----------------

LEADER = ("--leader-elect",)
# case -> (flags, the one line after "secretloom: error: ")
BAD_CONTROLLER_FLAGS: dict[str, tuple[tuple[str, ...], str]] = {
    "renew-deadline-outlasts-lease": (
        (*LEADER, "--renew-deadline", "20", "--lease-duration", "15"),
        "--lease-duration 15 must be greater than --renew-deadline 20",
    ),
    "sub-second-lease": (
        (*LEADER, "--lease-duration", "0.5", "--renew-deadline", "0.3", "--retry-period", "0.1"),
        "--lease-duration 0.5 must be at least 1 (the Lease holds whole seconds)",
    ),
    "lease-past-int32": (
        (*LEADER, "--lease-duration", "3e9"),
        "--lease-duration 3e+09 must be at most 2147483647 (the Lease holds an int32)",
    ),
    "lease-nan": (
        (*LEADER, "--lease-duration", "nan"),
        "--lease-duration nan must be at least 1 (the Lease holds whole seconds)",
    ),
    "zero-retry-period": (
        (*LEADER, "--retry-period", "0"),
        "--retry-period 0 must be greater than 0",
    ),
    "renew-deadline-within-jitter": (
        (*LEADER, "--renew-deadline", "2.4", "--retry-period", "2"),
        "--renew-deadline 2.4 must be greater than 1.2 times --retry-period 2 "
        "(client-go's jitter factor)",
    ),
    "sharding-takes-leases-too": (
        ("--shards", "2", "--retry-period", "-1"),
        "--retry-period -1 must be greater than 0",
    ),
    "metrics-port-past-65535": (
        ("--metrics-addr", ":70000"),
        "--metrics-addr :70000: port must be 0-65535",
    ),
    "metrics-port-one-past": (
        ("--metrics-addr", "127.0.0.1:65536"),
        "--metrics-addr 127.0.0.1:65536: port must be 0-65535",
    ),
    "metrics-port-not-ascii": (
        ("--metrics-addr", ":\u00b2"),
        "--metrics-addr must be host:port, got ':\u00b2'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CONTROLLER_FLAGS))
def test_bad_controller_flags_are_one_line_before_the_kubeconfig(workdir: Path, case: str) -> None:
    flags, expected = BAD_CONTROLLER_FLAGS[case]
    # A kubeconfig that does not exist: the flag must be refused first, so the
    # line names it rather than the kubeconfig, and no server is ever contacted.
    missing = workdir / "missing.kubeconfig"
    done = cli("controller", "--kubeconfig", str(missing), *flags, cwd=workdir)
    assert one_line_error(done) == f"{ERROR}{expected}"
    assert "Traceback" not in done.stderr
