"""The CMP as Argo CD runs it: Argo CD's cmp-server, called the way the repo-server calls it.

Two cmp-server processes (Argo CD's own binary, run as argocd-cmp-server the
way its image runs it) serve deploy/argocd-cmp/plugin.yaml and
plugin-explicit.yaml on sockets in one plugin directory, with the sidecar's
environment (age key, offline stores file, Vault token of a real OpenBao).
The harness runs the repo-server's GenerateManifests for an Application:
source-type detection, plugin selection (by name, or by asking each
discovery-configured socket), the repository tarball over gRPC, the plugin's
discover and generate commands in the cmp-server's work directory.

What is pinned, because the plugin.yaml comment once said otherwise:
- no `plugin.name`: discovery picks secretloom-v1 for a directory with secrets
  and neither plugin for one without (Argo CD handles it as a directory);
- `plugin: {name: secretloom-v1}` renders the directories discovery claims
  (the example Applications) and is refused by Argo CD for one it does not
  claim, with the error the docs quote;
- `plugin: {name: secretloom-explicit-v1}` renders that directory.
The unclaimed directory is a realistic one: the example chart with its values
and its SOPS secrets moved into `env/`, passed through HELM_VALUES.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from secretloom.runtime.kube import Obj
from secretloom.testing import cluster as local
from secretloom.testing.cluster import kill_with_parent
from secretloom.testing.openbao import OpenBaoServer
from secretloom.testing.tools import go_tools_dir, tool
from tests.argocd.argocd_cm import REPO
from tests.argocd.conftest import ArgoCD, HarnessError

EXAMPLE = "examples/argocd-cmp-app"
CMP = REPO / "deploy" / "argocd-cmp"
VAULT_DATA = {
    "username": "vault-user",
    "password": "pw-canary-4f1e",
    "api-token": "tok-canary-77ab",
}
SOPS_PASSWORD = "demo-db-password-from-sops"  # the plaintext of the example's secrets.yaml
SPLIT_VALUES = "env/values.yaml,secrets://env/secrets.yaml"


def _seed(server: OpenBaoServer) -> None:
    root = server.client()
    if "secret/" not in root.sys.list_mounted_secrets_engines()["data"]:
        root.sys.enable_secrets_engine(backend_type="kv", path="secret", options={"version": "2"})
    root.secrets.kv.v2.create_or_update_secret(path="app", secret=VAULT_DATA, mount_point="secret")


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    with OpenBaoServer(
        work_dir=tmp_path_factory.mktemp("openbao"), seed=_seed, die_with_parent=True
    ) as server:
        yield server


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Git checkout's worth: the example, plus the chart with values and secrets in env/."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(REPO / EXAMPLE, root / EXAMPLE)
    split = root / EXAMPLE / "chart-split"
    shutil.copytree(root / EXAMPLE / "chart", split)
    (split / "env").mkdir()
    for name in ("values.yaml", "secrets.yaml"):
        (split / name).rename(split / "env" / name)
    plain = root / EXAMPLE / "plain"
    plain.mkdir()
    (plain / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\ndata: {k: v}\n"
    )
    return root


@pytest.fixture(scope="module")
def sockets(
    tmp_path_factory: pytest.TempPathFactory, argocd_bin: Path, vault: OpenBaoServer
) -> Iterator[Path]:
    """Argo CD's cmp-server for each plugin config, as the two repo-server sidecars."""
    base = tmp_path_factory.mktemp("cmp")
    sidecar = base / "sidecar"  # what the sidecar mounts: keys and the operator's stores
    sidecar.mkdir()
    shutil.copy(REPO / EXAMPLE / "keys" / "demo-age-key.txt", sidecar / "keys.txt")
    stores = (REPO / EXAMPLE / "stores.yaml").read_text()
    (sidecar / "stores.yaml").write_text(stores.replace("http://127.0.0.1:8200", vault.address))
    env = {
        "PATH": os.pathsep.join(
            (str(Path(sys.executable).parent), str(go_tools_dir()), "/usr/bin", "/bin")
        ),
        "HOME": str(base / "home"),
        "ARGOCD_PLUGINSOCKFILEPATH": str(base / "plugins"),
        "ARGOCD_CMP_WORKDIR": str(base / "work"),
        "SOPS_AGE_KEY_FILE": str(sidecar / "keys.txt"),
        "SECRETLOOM_STORES": str(sidecar / "stores.yaml"),
        "VAULT_TOKEN": vault.root_token,
    }
    for directory in ("home", "plugins", "work"):
        (base / directory).mkdir()
    with contextlib.ExitStack() as stack:
        for config in ("plugin.yaml", "plugin-explicit.yaml"):
            config_dir = base / config.removesuffix(".yaml")
            config_dir.mkdir()
            shutil.copy(CMP / config, config_dir / "plugin.yaml")  # the name cmp-server reads
            log = stack.enter_context((base / f"{config}.log").open("wb"))
            proc = subprocess.Popen(
                [str(argocd_bin / "argocd-cmp-server"), "--config-dir-path", str(config_dir)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=kill_with_parent,  # noqa: PLW1509
            )
            stack.callback(_stop, proc)
        _wait_for(base / "plugins", {"secretloom-v1.sock", "secretloom-explicit-v1.sock"}, base)
        yield base / "plugins"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_for(directory: Path, names: set[str], logs: Path) -> None:
    deadline = time.monotonic() + 60
    while {p.name for p in directory.iterdir()} < names:
        if time.monotonic() > deadline:
            tails = {p.name: p.read_text()[-2000:] for p in logs.glob("*.log")}
            raise AssertionError(f"cmp-server sockets {names} not up in 60s: {tails}")
        time.sleep(0.1)


def applications() -> dict[str, Obj]:
    docs = yaml.safe_load_all((REPO / EXAMPLE / "applications.yaml").read_text())
    return {d["metadata"]["name"]: d for d in docs}


def application(name: str, path: str, plugin: Obj | None) -> Obj:
    """An Application like the example chart's, for `path`, with `plugin` (None: no plugin)."""
    app = copy.deepcopy(applications()["demo-chart"])
    app["metadata"]["name"] = name
    app["spec"]["source"]["path"] = f"{EXAMPLE}/{path}"
    if plugin is None:
        del app["spec"]["source"]["plugin"]
    else:
        app["spec"]["source"]["plugin"] = plugin
    return app


def documents(result: Any) -> dict[str, Obj]:
    docs = [json.loads(m) for m in result["manifests"]]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def assert_chart_rendered(result: Any, release: str) -> None:
    assert result["sourceType"] == "Plugin"
    secret = documents(result)[f"Secret/{release}-db"]
    assert secret["metadata"]["namespace"] == "demo"
    assert base64.b64decode(secret["data"]["password"]).decode() == SOPS_PASSWORD
    assert secret["stringData"]["apiToken"] == VAULT_DATA["api-token"]


async def test_the_example_applications_render_through_the_named_plugin(
    argocd: ArgoCD, repo: Path, sockets: Path
) -> None:
    apps = applications()
    assert {a["spec"]["source"]["plugin"]["name"] for a in apps.values()} == {"secretloom-v1"}

    assert_chart_rendered(await argocd.manifests(apps["demo-chart"], repo, sockets), "demo-chart")

    result = await argocd.manifests(apps["demo-manifests"], repo, sockets)
    assert result["sourceType"] == "Plugin"
    secret = documents(result)["Secret/app-credentials"]
    assert secret["stringData"]["password"] == VAULT_DATA["password"]
    assert base64.b64decode(secret["data"]["api-token"]).decode() == VAULT_DATA["api-token"]
    assert documents(result)["ConfigMap/app-settings"]["data"]["deployedBy"] == "demo-manifests"


async def test_discovery_selects_the_plugin_when_the_application_names_none(
    argocd: ArgoCD, repo: Path, sockets: Path
) -> None:
    env = applications()["demo-chart"]["spec"]["source"]["plugin"]["env"]
    unnamed = application("unnamed", "chart", {"env": env})
    assert_chart_rendered(await argocd.manifests(unnamed, repo, sockets), "unnamed")

    no_plugin = await argocd.manifests(application("bare", "manifests", None), repo, sockets)
    assert no_plugin["sourceType"] == "Plugin"
    assert documents(no_plugin)["Secret/app-credentials"]["stringData"]["username"] == "vault-user"

    # Neither plugin takes a directory without secrets: Argo CD renders it itself.
    plain = await argocd.manifests(application("plain", "plain", None), repo, sockets)
    assert plain["sourceType"] == "Directory"
    assert list(documents(plain)) == ["ConfigMap/plain"]


async def test_naming_the_discovery_plugin_does_not_bypass_its_discovery(
    argocd: ArgoCD, repo: Path, sockets: Path
) -> None:
    env = [{"name": "HELM_VALUES", "value": SPLIT_VALUES}]
    named = application("split", "chart-split", {"name": "secretloom-v1", "env": env})
    with pytest.raises(HarnessError) as refused:
        await argocd.manifests(named, repo, sockets)
    assert (
        'could not find cmp-server plugin with name "secretloom-v1" supporting the given repository'
        in str(refused.value)
    )


async def test_the_explicit_plugin_renders_a_directory_discovery_does_not_claim(
    argocd: ArgoCD, repo: Path, sockets: Path
) -> None:
    env = [{"name": "HELM_VALUES", "value": SPLIT_VALUES}]
    named = application("split", "chart-split", {"name": "secretloom-explicit-v1", "env": env})
    assert_chart_rendered(await argocd.manifests(named, repo, sockets), "split")


async def test_the_sidecar_patch_fits_argo_cds_repo_server(
    tmp_path: Path, argocd_bin: Path, cluster: local.Cluster, namespace: str
) -> None:
    """kustomize applies it to Argo CD's own Deployment; the API server accepts the result."""
    shutil.copy(argocd_bin / "argocd-repo-server-deployment.yaml", tmp_path / "deployment.yaml")
    shutil.copy(CMP / "repo-server-sidecar.yaml", tmp_path / "sidecar.yaml")
    (tmp_path / "kustomization.yaml").write_text(
        "resources: [deployment.yaml]\npatches: [{path: sidecar.yaml}]\n"
    )
    build = [str(tool("kustomize")), "build", str(tmp_path)]
    built = await asyncio.to_thread(
        subprocess.run, build, capture_output=True, text=True, check=True
    )
    (tmp_path / "built.yaml").write_text(built.stdout)
    cluster.kubectl(
        "-n", namespace, "create", "--dry-run=server", "-f", str(tmp_path / "built.yaml")
    )

    spec = yaml.safe_load(built.stdout)["spec"]["template"]["spec"]
    configs = {
        c["name"]: m["subPath"]
        for c in spec["containers"]
        for m in c.get("volumeMounts", [])
        if m["mountPath"] == "/home/argocd/cmp-server/config/plugin.yaml"
    }
    assert configs == {"secretloom": "plugin.yaml", "secretloom-explicit": "plugin-explicit.yaml"}
    assert all((CMP / name).is_file() for name in configs.values())
