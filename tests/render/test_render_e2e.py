"""`secretloom render` exactly as Argo CD's CMP sidecar runs it, against real OpenBao.

The sidecar runs the plugin's generate command (`secretloom render`) with the
application directory as cwd and Argo CD's environment; here that is a copy of
examples/argocd-cmp-app, the real helm, the real sops-encrypted values file
and a real OpenBao dev server holding `secret/app`, read with a token whose
policy allows exactly that path.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from secretloom.testing.openbao import OpenBaoServer
from secretloom.testing.tools import go_tools_dir

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "argocd-cmp-app"
PLUGIN = yaml.safe_load((REPO / "deploy" / "argocd-cmp" / "plugin.yaml").read_text())["spec"]
SECLOOM = Path(sys.executable).parent / "secretloom"
VAULT_DATA = {
    "username": "vault-user",
    "password": "vault-pw-canary-91c2",
    "api-token": "tok-canary-5e7d",
}
SOPS_PASSWORD = "demo-db-password-from-sops"


def _seed(server: OpenBaoServer) -> None:
    root = server.client()
    if "secret/" not in root.sys.list_mounted_secrets_engines()["data"]:
        root.sys.enable_secrets_engine(backend_type="kv", path="secret", options={"version": "2"})
    root.secrets.kv.v2.create_or_update_secret(path="app", secret=VAULT_DATA, mount_point="secret")
    root.sys.create_or_update_policy(
        name="render", policy='path "secret/data/app" { capabilities = ["read"] }'
    )


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    with OpenBaoServer(
        work_dir=tmp_path_factory.mktemp("openbao"), seed=_seed, die_with_parent=True
    ) as server:
        yield server


@pytest.fixture(scope="module")
def render_token(bao: OpenBaoServer) -> str:
    created = bao.client().auth.token.create(policies=["render"], no_default_policy=True)
    return str(created["auth"]["client_token"])


@pytest.fixture
def app(tmp_path: Path, bao: OpenBaoServer) -> Path:
    """A copy of the example, its stores file pointing at the test server."""
    copy = tmp_path / "repo"
    shutil.copytree(EXAMPLE, copy)
    stores = copy / "stores.yaml"
    stores.write_text(stores.read_text().replace("http://127.0.0.1:8200", bao.address))
    return copy


def cmp_env(app: Path, token: str, **extra: str) -> dict[str, str]:
    """The environment of Argo CD's CMP sidecar for one generate call."""
    return {
        "PATH": f"{go_tools_dir()}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(app / "home"),
        "ARGOCD_APP_NAME": "demo",
        "ARGOCD_APP_NAMESPACE": "demo",
        "ARGOCD_APP_SOURCE_PATH": "examples/argocd-cmp-app/chart",
        "ARGOCD_APP_REVISION": "0123456789abcdef",
        "KUBE_VERSION": "1.33.0",
        "SOPS_AGE_KEY_FILE": str(app / "keys" / "demo-age-key.txt"),
        "SECRETLOOM_STORES": str(app / "stores.yaml"),
        "VAULT_TOKEN": token,
        **extra,
    }


def plugin_command(step: str) -> list[str]:
    """The command plugin.yaml gives Argo CD for `step`, with this venv's secretloom."""
    spec = PLUGIN[step] if step == "generate" else PLUGIN["discover"]["find"]
    command = [*spec["command"], *spec.get("args", [])]
    assert command[0] == "secretloom"
    return [str(SECLOOM), *command[1:]]


def run_render(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        plugin_command("generate"),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def documents(output: str) -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(output) if d]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def test_helm_chart_with_sops_values_and_vault_reference(app: Path, render_token: str) -> None:
    env = cmp_env(app, render_token, ARGOCD_ENV_HELM_VALUES="values.yaml,secrets://secrets.yaml")
    done = run_render(app / "chart", env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    docs = documents(done.stdout)
    secret = docs["Secret/demo-db"]
    assert secret["metadata"]["namespace"] == "demo"
    assert base64.b64decode(secret["data"]["password"]).decode() == SOPS_PASSWORD
    assert secret["stringData"]["apiToken"] == VAULT_DATA["api-token"]
    assert secret["stringData"]["dsn"] == f"postgres://app:{SOPS_PASSWORD}@db.demo.svc/app"
    config = docs["ConfigMap/demo-config"]["data"]
    assert config == {"replicas": "2", "dbHost": "db.demo.svc", "maxConnections": "20"}


def test_plain_manifests_with_vals_and_avp_placeholders(app: Path, render_token: str) -> None:
    done = run_render(app / "manifests", cmp_env(app, render_token))
    assert done.returncode == 0, done.stderr
    docs = documents(done.stdout)
    secret = docs["Secret/app-credentials"]
    assert secret["stringData"] == {
        "username": "vault-user",
        "password": VAULT_DATA["password"],
        "url": f"postgres://vault-user:{VAULT_DATA['password']}@db:5432/app",
    }
    assert base64.b64decode(secret["data"]["api-token"]).decode() == VAULT_DATA["api-token"]
    settings = docs["ConfigMap/app-settings"]["data"]
    # Untouched scalars keep their exact text: `yes` is still YAML 1.1's true for kubectl.
    assert settings == {"deployedBy": "demo", "replicas": "3", "legacyFlag": True}
    assert "legacyFlag: yes" in done.stdout


@pytest.mark.parametrize(
    ("placeholder", "named"),
    [
        ("ref+vault://secret/app#/missing", "ref+vault://secret/app#/missing"),
        ("<path:secret/data/app#nope>", "<path:secret/data/app#nope>"),
        ("ref+vault://secret/absent#/password", "ref+vault://secret/absent#/password"),
        ("ref+nosuch://x#/y", "ref+nosuch://x"),
    ],
)
def test_missing_reference_fails_with_one_line(
    app: Path, render_token: str, placeholder: str, named: str
) -> None:
    manifest = app / "manifests" / "secret.yaml"
    manifest.write_text(
        manifest.read_text().replace("<path:secret/data/app#password>", placeholder)
    )
    done = run_render(app / "manifests", cmp_env(app, render_token))
    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("secretloom: error: ")
    assert named in done.stderr
    for value in VAULT_DATA.values():
        assert value not in done.stderr


def test_token_without_access_is_a_clean_error(app: Path, bao: OpenBaoServer) -> None:
    done = run_render(app / "manifests", cmp_env(app, "not-a-token"))
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "not-a-token" not in done.stderr


def test_discover_claims_both_app_dirs(app: Path) -> None:
    for sub, kind in (("chart", "helm"), ("manifests", "plain")):
        assert discover(app / sub) == kind
    empty = app / "empty"
    empty.mkdir()
    assert discover(empty) == ""


def discover(cwd: Path) -> str:
    done = subprocess.run(
        plugin_command("discover"), cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_kustomize_app_is_built_by_kustomize_then_resolved(app: Path, render_token: str) -> None:
    kustomized = app / "kustomized"
    kustomized.mkdir()
    (kustomized / "kustomization.yaml").write_text("namePrefix: k-\nresources: [cm.yaml]\n")
    (kustomized / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
        "data: {user: 'ref+vault://secret/app#/username', app: ref+env://ARGOCD_APP_NAME}\n"
    )
    done = run_render(kustomized, cmp_env(app, render_token))
    assert done.returncode == 0, done.stderr
    assert documents(done.stdout)["ConfigMap/k-c"]["data"] == {"user": "vault-user", "app": "demo"}
