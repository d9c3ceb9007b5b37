"""`secretloom render` against the real cluster: `ref+k8s://` and SecretStores as stores.

The CLI runs as Argo CD's CMP sidecar runs it (a subprocess in the app
directory, Argo CD's environment), with a kubeconfig instead of a stores
file: `ref+k8s://` reads Secrets of the app's namespace only (unless the
operator's `--allow-namespace` widens it), and `ref+vault://` resolves
through the SecretStore of the app's namespace, against real OpenBao. Every
failure is one line on stderr, and a canary value never appears in it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import yaml

from secretloom.runtime.kube import KubeClient
from secretloom.testing import cluster as local
from secretloom.testing.cluster import free_port
from secretloom.testing.openbao import OpenBaoServer
from tests.e2e import kit
from tests.e2e import stores_kit as sk
from tests.e2e.test_controller_process import extra_namespaces
from tests.openbao.support import KV2, unique

SECRETLOOM = Path(sys.executable).parent / "secretloom"
CANARY = f"canary-render-{secrets.token_hex(6)}"


def app(tmp_path: Path, reference: str) -> Path:
    directory = tmp_path / "app"
    directory.mkdir(exist_ok=True)
    (directory / "cm.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata:\n  v: {reference}\n"
    )
    return directory


def render(
    directory: Path, namespace: str, kubeconfig: Path, *flags: str
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(directory.parent),
        "ARGOCD_APP_NAME": "demo",
        "ARGOCD_APP_NAMESPACE": namespace,
    }
    return subprocess.run(
        [str(SECRETLOOM), "render", "--kubeconfig", str(kubeconfig), *flags],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def rendered_value(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    (document,) = [d for d in yaml.safe_load_all(done.stdout) if d]
    return str(document["data"]["v"])


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("secretloom: error: ")
    assert CANARY not in done.stderr
    return done.stderr


def secret_ref(namespace: str, name: str = "src", key: str = "key") -> str:
    return f"ref+k8s://v1/Secret/{namespace}/{name}/{key}"


def dead_kubeconfig(admin: Path, tmp_path: Path) -> Path:
    """The admin kubeconfig pointed at a port nothing listens on."""
    dead = tmp_path / "dead.kubeconfig"
    config = yaml.safe_load(admin.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    dead.write_text(yaml.safe_dump(config))
    return dead


async def test_a_k8s_reference_renders_from_the_app_namespace_only(
    kube: KubeClient, namespace: str, cluster: local.Cluster, tmp_path: Path
) -> None:
    admin = cluster.kubeconfig
    await kit.put_secret(kube, namespace, "src", {"key": CANARY}, manager="team")
    assert rendered_value(render(app(tmp_path, secret_ref(namespace)), namespace, admin)) == CANARY
    async with extra_namespaces(kube, 1) as (other,):
        await kit.put_secret(kube, other, "src", {"key": CANARY + "-other"}, manager="team")
        reference = app(tmp_path, secret_ref(other))
        # Refused before any API call: the same answer with a dead API server.
        dead = dead_kubeconfig(admin, tmp_path)
        refused = one_line_error(render(reference, namespace, dead))
        assert f"namespace {other!r} is not allowed" in refused
        allowed = render(reference, namespace, admin, "--allow-namespace", other)
        assert rendered_value(allowed) == CANARY + "-other"


async def test_k8s_reference_failures_are_one_line_without_the_value(
    kube: KubeClient, namespace: str, cluster: local.Cluster, tmp_path: Path
) -> None:
    await kit.put_secret(kube, namespace, "src", {"key": CANARY}, manager="team")
    forbidden = one_line_error(
        render(app(tmp_path, secret_ref(namespace)), namespace, cluster.user_kubeconfig)
    )
    assert "HTTP 403" in forbidden
    missing = one_line_error(
        render(app(tmp_path, secret_ref(namespace, "absent")), namespace, cluster.kubeconfig)
    )
    assert f"Secret 'absent' not found in namespace {namespace!r}" in missing
    no_key = one_line_error(
        render(app(tmp_path, secret_ref(namespace, key="nope")), namespace, cluster.kubeconfig)
    )
    assert "key 'nope' not found in Secret 'src'" in no_key


async def test_a_service_account_token_secret_is_never_rendered(
    kube: KubeClient, namespace: str, cluster: local.Cluster, tmp_path: Path
) -> None:
    """The controller's rule for store credentials holds for `ref+k8s://` (one reader)."""
    await sk.create_service_account(kube, namespace, "app")
    token = await sk.legacy_token_secret(kube, namespace, "legacy-token", "app")
    reference = app(tmp_path, secret_ref(namespace, "legacy-token", "token"))
    refused = render(reference, namespace, cluster.kubeconfig)
    assert "is a kubernetes.io/service-account-token Secret" in one_line_error(refused)
    assert token not in refused.stderr


async def test_vault_references_resolve_through_the_namespace_secret_store(
    kube: KubeClient,
    namespace: str,
    cluster: local.Cluster,
    bao: OpenBaoServer,
    root: object,
    tmp_path: Path,
) -> None:
    path = unique("app")
    sk.seed(root, path, password=CANARY)
    await sk.put_token(kube, namespace, bao.root_token)
    await sk.apply_store(kube, namespace, "default", sk.vault(bao.address))
    resolved = render(
        app(tmp_path, f"ref+vault://{KV2}/{path}#/password"), namespace, cluster.kubeconfig
    )
    assert rendered_value(resolved) == CANARY

    missing = render(
        app(tmp_path, f"ref+vault://{KV2}/{path}#/absent"), namespace, cluster.kubeconfig
    )
    assert "property 'absent' not found" in one_line_error(missing)
    no_store = render(
        app(tmp_path, f"ref+vault://{KV2}/{path}?store=nope#/password"),
        namespace,
        cluster.kubeconfig,
    )
    assert "SecretStore" in one_line_error(no_store)
    await sk.put_token(kube, namespace, "not-a-token")
    denied = render(
        app(tmp_path, f"ref+vault://{KV2}/{path}#/password"), namespace, cluster.kubeconfig
    )
    assert "permission denied" in one_line_error(denied)
    assert "not-a-token" not in denied.stderr
