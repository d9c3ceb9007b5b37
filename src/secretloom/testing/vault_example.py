"""The Vault variant of the Argo CD Notifications example, for `make demo` and its test.

`examples/argocd-notifications-vault/` holds the manifests a user would apply:
a SecretStore, three SecretSyncs (two Vault paths, one Kubernetes Secret) and
the Secrets beside them. This module runs them against a real OpenBao dev
server, in four steps the demo strings together:

    if vault_example.unavailable() is None:
        with vault_example.server() as bao:          # started, seeded
            await vault_example.install(kube, bao, "argocd-vault")
            ... run the controller for that namespace ...
            await vault_example.scenario(kube, bao, "argocd-vault", echo=print)

The token the SecretStore uses is created here with a policy that reads
exactly the two example paths (never the dev server's root token), and it is
written to the `vault-token` Secret, never printed. Values are demo values.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from secretloom.api.secretsync import REFRESH_ANNOTATION
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.meta import data_keys_by_manager
from secretloom.runtime.resources import NAMESPACES, SECRET_STORES, SECRET_SYNCS, SECRETS
from secretloom.testing import assets
from secretloom.testing.openbao import OpenBaoError, OpenBaoServer, find_bao

EXAMPLE_DIR = assets.path("examples/argocd-notifications-vault")
MOUNT = "secret"
POLICY = "argocd-notifications"
TARGET = "argocd-notifications-secret"
VALUES = {
    "argocd/grafana": {"api-key": "demo-grafana-key-1"},
    "argocd/gitlab": {"token": "demo-gitlab-token-1"},
}
# Who applies what, as in the real setup: Helm the shell, each team its source.
_MANAGERS = {TARGET: "helm", "argocd-notifications-secret-slack": "chat-team"}
_RESOURCES = {"SecretStore": SECRET_STORES, "SecretSync": SECRET_SYNCS}


def unavailable() -> str | None:
    """Why the Vault variant cannot run here (no `bao` binary), or None."""
    try:
        find_bao()
    except OpenBaoError as err:
        return str(err)
    return None


def seed(server: OpenBaoServer) -> None:
    """The KV v2 mount, the two paths and a read-only policy (a dev server starts empty)."""
    root = server.client()
    if f"{MOUNT}/" not in root.sys.list_mounted_secrets_engines()["data"]:
        root.sys.enable_secrets_engine(backend_type="kv", path=MOUNT, options={"version": "2"})
    for path, data in VALUES.items():
        root.secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point=MOUNT)
    rules = "\n".join(
        f'path "{MOUNT}/data/{path}" {{ capabilities = ["read"] }}' for path in VALUES
    )
    root.sys.create_or_update_policy(name=POLICY, policy=rules)


def server(work_dir: Path | None = None) -> OpenBaoServer:
    """An OpenBao dev server seeded with the example (use as a context manager)."""
    return OpenBaoServer(work_dir=work_dir, seed=seed, die_with_parent=True)


def manifests(namespace: str, address: str, example_dir: Path = EXAMPLE_DIR) -> list[Obj]:
    """The example's objects, moved to `namespace`, the store pointing at `address`."""
    objects: list[Obj] = []
    for path in sorted(example_dir.glob("*.yaml")):
        for obj in yaml.safe_load_all(path.read_text()):
            if not obj:
                continue
            obj["metadata"]["namespace"] = namespace
            if obj["kind"] == "SecretStore":
                obj["spec"]["provider"]["vault"]["server"] = address
            objects.append(obj)
    return objects


def _path(obj: Obj) -> str:
    meta = obj["metadata"]
    if obj["kind"] == "Secret":
        return SECRETS.path(meta["namespace"], meta["name"])
    return _RESOURCES[obj["kind"]].path(meta["namespace"], meta["name"])


def _secret_body(obj: Obj) -> Obj:
    """A Secret's `stringData` as `data` (server-side apply keeps ownership per key)."""
    body = {k: v for k, v in obj.items() if k != "stringData"}
    data = {k: base64.b64encode(v.encode()).decode() for k, v in obj.get("stringData", {}).items()}
    if data:
        body["data"] = data
    return body


async def install(
    kube: KubeClient, bao: OpenBaoServer, namespace: str, example_dir: Path = EXAMPLE_DIR
) -> None:
    """Create `namespace`, the store's token Secret and every object of the example."""
    try:
        await kube.create(NAMESPACES.path(), {"metadata": {"name": namespace}})
    except ApiError as err:
        if err.status != 409:
            raise
    created = await asyncio.to_thread(
        bao.client().auth.token.create, policies=[POLICY], no_default_policy=True, ttl="24h"
    )
    token: str = created["auth"]["client_token"]
    await kube.apply(
        SECRETS.path(namespace, "vault-token"),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "vault-token", "namespace": namespace},
            "data": {"token": base64.b64encode(token.encode()).decode()},
        },
        field_manager="vault-admin",
        force=True,
    )
    for obj in manifests(namespace, bao.address, example_dir):
        name = obj["metadata"]["name"]
        body = _secret_body(obj) if obj["kind"] == "Secret" else obj
        manager = _MANAGERS.get(name, "kubectl")
        await kube.apply(_path(obj), body, field_manager=manager, force=True)


def target_values(secret: Obj | None) -> dict[str, str]:
    data = (secret or {}).get("data") or {}
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


async def wait_for(
    kube: KubeClient,
    namespace: str,
    expected: dict[str, str],
    timeout: float = 60.0,
) -> Obj:
    """The target once it holds `expected` (a subset of its keys)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            secret = await kube.get(SECRETS.path(namespace, TARGET))
        except ApiError as err:
            if err.status != 404:
                raise
            secret = None
        if secret is not None and expected.items() <= target_values(secret).items():
            return secret
        if time.monotonic() > deadline:
            raise TimeoutError(f"Secret {namespace}/{TARGET} did not converge in {timeout:.0f}s")
        await asyncio.sleep(0.2)


async def scenario(
    kube: KubeClient,
    bao: OpenBaoServer,
    namespace: str,
    echo: Callable[[str], Any] = print,
    timeout: float = 60.0,
) -> None:
    """With the controller running: show the composed target, then a Vault rotation landing."""
    first = {
        "grafana-api-key": VALUES["argocd/grafana"]["api-key"],
        "gitlab-token": VALUES["argocd/gitlab"]["token"],
        "slack-token": "demo-slack-token-1",
    }
    secret = await wait_for(kube, namespace, first, timeout)
    echo(f"{namespace}/{TARGET}, each key owned by its own field manager:")
    owners = {k: m for m, keys in data_keys_by_manager(secret).items() for k in keys}
    for key, manager in sorted(owners.items()):
        echo(f"  {key:<16} <- {manager}")
    rotated = "demo-grafana-key-2"
    echo("rotating argocd/grafana in Vault, then asking for a refresh now")
    await asyncio.to_thread(
        bao.client().secrets.kv.v2.patch,
        path="argocd/grafana",
        secret={"api-key": rotated},
        mount_point=MOUNT,
    )
    await kube.merge_patch(
        SECRET_SYNCS.path(namespace, "grafana-token"),
        {"metadata": {"annotations": {REFRESH_ANNOTATION: str(time.time())}}},
    )
    await wait_for(kube, namespace, {**first, "grafana-api-key": rotated}, timeout)
    echo("  grafana-api-key updated; the other keys were not touched")
