"""Helpers for the store end-to-end tests: real SecretStores, real OpenBao, no fakes."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx2 as httpx

from secretloom.api.crd import CLUSTER_SECRET_STORE, SECRET_STORE
from secretloom.controllers.manager import Manager
from secretloom.controllers.refresh import RefreshPolicy
from secretloom.runtime.kube import KubeClient, Obj
from secretloom.runtime.resources import (
    CLUSTER_SECRET_STORES,
    SECRET_STORES,
    SECRETS,
    SERVICE_ACCOUNTS,
)
from secretloom.testing import cluster as local
from secretloom.testing.openbao import OpenBaoServer
from tests.e2e import kit
from tests.openbao.support import (
    KV2,
    AppRole,
    make_approle,
    read_policy,
    unique,
    write_policy,
)

# Short enough for the tests to see several retries, long enough to be a backoff.
FAST = RefreshPolicy(backoff_base=0.2, backoff_max=1.0, store_revalidate=2.0)
TOKEN_REF = {"name": "vault-token", "key": "token"}


def vault(server: str, auth: dict[str, Any] | None = None, **fields: Any) -> Obj:
    """A `provider.vault` block on the KV v2 mount, token auth unless told otherwise."""
    return {"server": server, "path": KV2, "auth": auth or {"tokenSecretRef": TOKEN_REF}, **fields}


async def apply_store(kube: KubeClient, namespace: str, name: str, provider: Obj) -> Obj:
    body = {
        "apiVersion": SECRET_STORE.api_version,
        "kind": SECRET_STORE.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"provider": {"vault": provider}},
    }
    path = SECRET_STORES.path(namespace, name)
    return await kube.apply(path, body, field_manager="kubectl", force=True)


async def apply_cluster_store(kube: KubeClient, name: str, spec: Obj) -> Obj:
    body = {
        "apiVersion": CLUSTER_SECRET_STORE.api_version,
        "kind": CLUSTER_SECRET_STORE.kind,
        "metadata": {"name": name},
        "spec": spec,
    }
    path = CLUSTER_SECRET_STORES.path(None, name)
    return await kube.apply(path, body, field_manager="kubectl", force=True)


async def put_token(
    kube: KubeClient, namespace: str, token: str, name: str = "vault-token"
) -> None:
    await kit.put_secret(kube, namespace, name, {"token": token}, manager="vault-admin")


async def put_secret_id(kube: KubeClient, namespace: str, app_role: AppRole) -> None:
    """The Secret `AppRole.auth()` points at, holding the role's secret ID."""
    secret_id = {"secret-id": app_role.secret_id}
    await kit.put_secret(kube, namespace, "approle", secret_id, manager="vault-admin")


def reason_and_message(obj: Obj, kind: str) -> tuple[str, str]:
    condition = kit.condition(obj, kind)
    return condition.get("reason", ""), condition.get("message", "")


def from_store(store: str, path: str, prop: str, kind: str = "SecretStore", **extra: Any) -> Obj:
    return {"store": {"name": store, "kind": kind}, "path": path, "property": prop, **extra}


def sync(target: str, entries: dict[str, Obj], refresh: str = "1h", **spec: Any) -> Obj:
    """A SecretSync spec: key -> `from` block (a store entry or a Kubernetes one)."""
    data = [{"key": key, "from": source} for key, source in entries.items()]
    return {"target": {"name": target}, "data": data, "refreshInterval": refresh, **spec}


async def wait_store(
    kube: KubeClient, namespace: str, name: str, status: str = "True", timeout: float = 10.0
) -> Obj:
    found: Obj = {}

    async def probe() -> bool:
        nonlocal found
        path = (
            SECRET_STORES.path(namespace, name)
            if namespace
            else CLUSTER_SECRET_STORES.path(None, name)
        )
        found = await kube.get(path)
        return kit.condition(found, "Ready").get("status") == status

    await kit.eventually(probe, timeout=timeout)
    return found


def seed(root: Any, path: str, **values: str) -> None:
    root.secrets.kv.v2.create_or_update_secret(path=path, secret=values, mount_point=KV2)


def audited_reads(bao: OpenBaoServer, path: str) -> int:
    """Reads of KV v2 `path` the server's audit log recorded (requests, not responses)."""
    wanted = f"{KV2}/data/{path}"
    return sum(
        1
        for e in bao.audit_entries()
        if e["type"] == "request" and e["request"].get("path") == wanted
    )


def kubernetes_auth(
    root: Any, cluster: local.Cluster, namespace: str, policy: str, *, audience: str = "vault"
) -> str:
    """A Kubernetes auth mount on the real apiserver; role `app` is bound to `vault-auth`."""
    mount = unique("kubernetes")
    root.sys.enable_auth_method(method_type="kubernetes", path=mount)
    root.write_data(
        f"auth/{mount}/config",
        data={
            "kubernetes_host": cluster.server,
            "kubernetes_ca_cert": cluster.ca_cert.read_text(),
            "token_reviewer_jwt": cluster.admin.token,
            "disable_local_ca_jwt": True,
        },
    )
    root.write_data(
        f"auth/{mount}/role/app",
        data={
            "bound_service_account_names": "vault-auth",
            "bound_service_account_namespaces": namespace,
            "audience": audience,
            "token_policies": policy,
        },
    )
    return mount


def kubernetes_login(
    mount: str, *audiences: str, role: str = "app", account: str = "vault-auth"
) -> Obj:
    """The `auth` block of a store logging in at `mount` (audience `vault` unless told)."""
    ref = {"name": account, "audiences": list(audiences or ("vault",))}
    return {"kubernetes": {"mountPath": mount, "role": role, "serviceAccountRef": ref}}


async def create_service_account(
    kube: KubeClient, namespace: str, name: str = "vault-auth", **labels: str
) -> None:
    body = {"metadata": {"name": name, "labels": labels}}
    await kube.create(SERVICE_ACCOUNTS.path(namespace), body)


async def legacy_token_secret(kube: KubeClient, namespace: str, name: str, account: str) -> str:
    """Create a legacy ServiceAccount-token Secret; return the token written into it."""
    body = {
        "metadata": {"name": name, "annotations": {"kubernetes.io/service-account.name": account}},
        "type": "kubernetes.io/service-account-token",
    }
    await kube.create(SECRETS.path(namespace), body)
    token = ""

    async def filled() -> bool:
        nonlocal token
        token = kit.values(await kit.get_secret(kube, namespace, name)).get("token", "")
        return bool(token)

    await kit.eventually(filled, timeout=30)
    return token


def cluster_ca(cluster: local.Cluster) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cluster.ca_cert))


def token_requests(cluster: local.Cluster) -> float:
    """TokenRequests the apiserver has served so far, from its own /metrics."""
    response = httpx.get(
        f"{cluster.server}/metrics",
        headers={"Authorization": f"Bearer {cluster.admin.token}"},
        verify=cluster_ca(cluster),
        timeout=10.0,
    )
    response.raise_for_status()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in response.text.splitlines()
        if line.startswith("apiserver_request_total{")
        and 'resource="serviceaccounts"' in line
        and 'subresource="token"' in line
    )


def logins(bao: OpenBaoServer, mount: str) -> int:
    """Login requests the server's audit log recorded at auth mount `mount`."""
    wanted = f"auth/{mount}/login"
    return sum(
        1
        for e in bao.audit_entries()
        if e["type"] == "request" and e["request"].get("path") == wanted
    )


def approle_path(root: Any, value: str) -> tuple[str, AppRole]:
    """A fresh path holding `key: value`, and an AppRole that may read only it."""
    path = unique("app")
    seed(root, path, key=value)
    return path, make_approle(root, write_policy(root, read_policy(f"{KV2}/data/{path}")))


@contextlib.asynccontextmanager
async def controller(kube: KubeClient, *namespaces: str, **opts: Any) -> AsyncIterator[Manager]:
    """The real controller with a fast outage backoff, ClusterSecretStores watched."""
    opts.setdefault("refresh", FAST)
    opts.setdefault("cluster_stores", True)
    async with kit.controller(kube, *namespaces, **opts) as manager:
        yield manager
