"""The Argo CD plugin image renders the example apps the way the sidecar runs it.

The generate command is the one baked into the image at Argo CD's plugin.yaml path (which must
be the repository's), run by name through the image's PATH as Argo CD's cmp-server runs it, as
uid 999, in the application directory, with Argo CD's environment; the root filesystem is
read-only, /tmp is a tmpfs (the sidecar's memory emptyDir) and the app is mounted read-only.
Each case needs a different binary of the image: helm (the chart with SOPS age values and a
Vault reference against a real OpenBao), kustomize, and gpg with its agent (a PGP-only SOPS
manifest, the keyring mounted where GNUPGHOME points).
"""

from __future__ import annotations

import base64
import functools
import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.image.conftest import CMP, podman, run_args
from tests.render.oracle import Keys, Sops
from tests.render.test_render_e2e import SOPS_PASSWORD, VAULT_DATA, documents

REPO = Path(__file__).resolve().parents[2]
PLUGIN_PATH = "/home/argocd/cmp-server/config/plugin.yaml"
ARGOCD_UID = 999


@functools.cache
def baked_plugin() -> str:
    done = podman(
        *run_args(
            CMP,
            options=("--rm", "--entrypoint", "/usr/bin/python3.11"),
            args=("-Ic", f"import sys; sys.stdout.write(open({PLUGIN_PATH!r}).read())"),
        )
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def render(app: Path, workdir: str, *, env: dict[str, str], options: tuple[str, ...] = ()) -> Any:
    """The plugin's generate command in the image; returns the rendered documents by kind/name."""
    spec = yaml.safe_load(baked_plugin())["spec"]["generate"]
    command = [*spec["command"], *spec.get("args", [])]
    argocd = {
        "ARGOCD_APP_NAME": "demo",
        "ARGOCD_APP_NAMESPACE": "demo",
        "ARGOCD_APP_SOURCE_PATH": workdir,
        "ARGOCD_APP_REVISION": "0123456789abcdef",
        "KUBE_VERSION": "1.33.0",
    }
    done = podman(
        *run_args(
            CMP,
            options=(
                *("--rm", "--network", "host", "--tmpfs", "/tmp"),
                *("--volume", f"{app}:/repo:ro", "--workdir", f"/repo/{workdir}"),
                *("--entrypoint", command[0]),
                *(f"--env={k}={v}" for k, v in {**argocd, **env}.items()),
                *options,
            ),
            args=command[1:],
        )
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return documents(done.stdout)


def test_the_baked_plugin_is_the_repository_one() -> None:
    assert baked_plugin() == (REPO / "deploy" / "argocd-cmp" / "plugin.yaml").read_text()


def test_helm_chart_with_sops_values_and_vault_reference(app: Path, render_token: str) -> None:
    docs = render(
        app,
        "chart",
        env={
            "ARGOCD_ENV_HELM_VALUES": "values.yaml,secrets://secrets.yaml",
            "SOPS_AGE_KEY_FILE": "/repo/keys/demo-age-key.txt",
            "SECRETLOOM_STORES": "/repo/stores.yaml",
            "VAULT_TOKEN": render_token,
        },
    )
    secret = docs["Secret/demo-db"]
    assert base64.b64decode(secret["data"]["password"]).decode() == SOPS_PASSWORD
    assert secret["stringData"]["apiToken"] == VAULT_DATA["api-token"]


def test_kustomization_is_built_by_the_image_kustomize(app: Path, render_token: str) -> None:
    kustomized = app / "kustomized"
    kustomized.mkdir()
    (kustomized / "kustomization.yaml").write_text("namePrefix: k-\nresources: [cm.yaml]\n")
    (kustomized / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
        "data: {user: 'ref+vault://secret/app#/username'}\n"
    )
    docs = render(
        app,
        "kustomized",
        env={"SECRETLOOM_STORES": "/repo/stores.yaml", "VAULT_TOKEN": render_token},
    )
    assert docs["ConfigMap/k-c"]["data"] == {"user": VAULT_DATA["username"]}


def test_pgp_manifest_is_decrypted_by_the_image_gpg(
    app: Path, keys: Keys, sops: Sops, tmp_path: Path
) -> None:
    pgp_app = app / "pgp"
    pgp_app.mkdir()
    config = tmp_path / "sops.yaml"
    config.write_text(yaml.safe_dump({"creation_rules": [{"pgp": keys.pgp_fingerprint}]}))
    plain = tmp_path / "secret.yaml"
    plain.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: pgp}\nstringData: {password: pgp-canary}\n"
    )
    (pgp_app / "secret.yaml").write_bytes(sops.encrypt(plain, config))
    # The keyring as the sidecar would have it: writable by Argo CD's uid (gpg-agent's socket).
    gnupg = tmp_path / "gnupg"
    shutil.copytree(keys.gnupg_home, gnupg, ignore=shutil.ignore_patterns("S.*"))
    for path in (gnupg, *gnupg.rglob("*")):
        os.chown(path, ARGOCD_UID, ARGOCD_UID)
    docs = render(
        app,
        "pgp",
        env={"GNUPGHOME": "/gnupg"},
        options=("--volume", f"{gnupg}:/gnupg"),
    )
    assert docs["Secret/pgp"]["stringData"] == {"password": "pgp-canary"}
