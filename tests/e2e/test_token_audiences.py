"""Token audiences are the operator's: a store cannot mint an API credential and mail it out.

The attack (issue 9, item 1): a SecretStore with Kubernetes auth chooses both
the token's audience and the server the token is posted to, so a tenant who
may not create `serviceaccounts/token` asks for the API server's audience and
points the store at a server of their own. Here, against the real apiserver
and a real OpenBao:

* an audience outside `--token-audiences` is refused before any TokenRequest
  (counted on the apiserver's own request metrics) and before any login
  (counted in OpenBao's audit log), while `vault` still logs in;
* an operator who wrongly allows the API server's audience is still refused:
  the minted token authenticates against the apiserver, so it never leaves;
* the local control plane no longer accepts a token minted for `vault`, as a
  real cluster would not;
* an optional ServiceAccount label gates which accounts stores may use;
* a `kubernetes.io/service-account-token` Secret is never a store credential.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import httpx2 as httpx

from secretloom.runtime.kube import KubeClient
from secretloom.runtime.resources import SERVICE_ACCOUNTS
from secretloom.runtime.tokens import TokenPolicy
from secretloom.testing import cluster as local
from secretloom.testing.openbao import OpenBaoServer
from tests.e2e import stores_kit as sk
from tests.openbao.support import KV2, read_policy, unique, write_policy

API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"
LOGIN_LABEL = ("secretloom.io/store-login", "true")


def api_status(cluster: local.Cluster, token: str) -> int:
    """What the apiserver answers a request authenticated with `token`."""
    return httpx.get(
        f"{cluster.server}/api",
        headers={"Authorization": f"Bearer {token}"},
        verify=sk.cluster_ca(cluster),
        timeout=10.0,
    ).status_code


async def mint(kube: KubeClient, namespace: str, audience: str) -> str:
    body = {"spec": {"audiences": [audience], "expirationSeconds": 600}}
    answer = await kube.create(SERVICE_ACCOUNTS.path(namespace, "vault-auth", "token"), body)
    return str(answer["status"]["token"])


async def store_status(kube: KubeClient, namespace: str, name: str) -> tuple[str, str]:
    store = await sk.wait_store(kube, namespace, name, "False")
    return sk.reason_and_message(store, "Ready")


def presented(bao: OpenBaoServer, token: str) -> bool:
    """Whether any request the server audited carried `token` (audit logs hold its HMAC)."""
    hashed = bao.audit_hash(token)
    return any(
        hashed in json.dumps(entry)
        for entry in bao.audit_entries()
        if not entry["request"].get("path", "").startswith("sys/audit-hash/")  # our own lookup
    )


def kv_policy(root: Any) -> str:
    path = unique("app")
    sk.seed(root, path, key="v")
    return write_policy(root, read_policy(f"{KV2}/data/{path}"))


async def test_an_audience_outside_the_operators_list_is_refused_before_any_token_request(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any, cluster: local.Cluster
) -> None:
    mount = sk.kubernetes_auth(root, cluster, namespace, kv_policy(root), audience=API_AUDIENCE)
    async with sk.controller(kube, namespace):  # the default list: `vault`
        await sk.create_service_account(kube, namespace)
        minted = sk.token_requests(cluster)
        api_login = sk.kubernetes_login(mount, API_AUDIENCE)
        await sk.apply_store(kube, namespace, "api", sk.vault(bao.address, api_login))
        assert await store_status(kube, namespace, "api") == (
            "InvalidConfig",
            f"ServiceAccount 'vault-auth' in namespace {namespace!r}: audience {API_AUDIENCE!r} "
            "is not allowed by the operator (secretloom controller --token-audiences vault)",
        )
        assert sk.token_requests(cluster) == minted
        assert sk.logins(bao, mount) == 0

        # The default audience still logs in (the counters above do count).
        vault_mount = sk.kubernetes_auth(root, cluster, namespace, kv_policy(root))
        vault_login = sk.kubernetes_login(vault_mount)
        await sk.apply_store(kube, namespace, "vault", sk.vault(bao.address, vault_login))
        await sk.wait_store(kube, namespace, "vault")
        assert sk.token_requests(cluster) > minted
        assert sk.logins(bao, vault_mount) >= 1
        assert sk.logins(bao, mount) == 0


async def test_a_token_the_api_server_accepts_never_leaves_even_if_its_audience_is_allowed(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any, cluster: local.Cluster
) -> None:
    # The role would accept the token: only the controller's own check stops it.
    mount = sk.kubernetes_auth(root, cluster, namespace, kv_policy(root), audience=API_AUDIENCE)
    careless = TokenPolicy(audiences=frozenset({"vault", API_AUDIENCE}))
    async with sk.controller(kube, namespace, tokens=careless):
        await sk.create_service_account(kube, namespace)
        minted = sk.token_requests(cluster)
        api_login = sk.kubernetes_login(mount, API_AUDIENCE)
        await sk.apply_store(kube, namespace, "api", sk.vault(bao.address, api_login))
        assert await store_status(kube, namespace, "api") == (
            "InvalidConfig",
            f"ServiceAccount 'vault-auth' in namespace {namespace!r}: a token for audience "
            f"{API_AUDIENCE!r} is accepted by the Kubernetes API server; refusing to send it "
            "to a store",
        )
        assert sk.token_requests(cluster) > minted  # minted, proven dangerous, dropped
        assert sk.logins(bao, mount) == 0


async def test_a_token_minted_for_vault_is_not_an_api_credential(
    kube: KubeClient, namespace: str, cluster: local.Cluster
) -> None:
    await sk.create_service_account(kube, namespace)
    for_vault = await mint(kube, namespace, "vault")
    for_api = await mint(kube, namespace, API_AUDIENCE)
    assert api_status(cluster, for_vault) == 401
    assert api_status(cluster, for_api) == 200  # the control: the probe itself works
    assert not await kube.accepts_token(for_vault)
    assert await kube.accepts_token(for_api)


async def test_a_service_account_without_the_operators_label_cannot_log_in(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any, cluster: local.Cluster
) -> None:
    mount = sk.kubernetes_auth(root, cluster, namespace, kv_policy(root))
    labelled = TokenPolicy(account_label=LOGIN_LABEL)
    async with sk.controller(kube, namespace, tokens=labelled):
        await sk.create_service_account(kube, namespace)
        minted = sk.token_requests(cluster)
        await sk.apply_store(
            kube, namespace, "vault", sk.vault(bao.address, sk.kubernetes_login(mount))
        )
        assert await store_status(kube, namespace, "vault") == (
            "InvalidConfig",
            f"ServiceAccount 'vault-auth' in namespace {namespace!r} lacks the label "
            "secretloom.io/store-login=true the operator requires for store logins "
            "(secretloom controller --token-service-account-label)",
        )
        assert sk.token_requests(cluster) == minted
        assert sk.logins(bao, mount) == 0

        key, value = LOGIN_LABEL
        patch = {"metadata": {"labels": {key: value}}}
        await kube.merge_patch(SERVICE_ACCOUNTS.path(namespace, "vault-auth"), patch)
        await sk.wait_store(kube, namespace, "vault")  # retried with backoff, nobody touches it


async def test_a_service_account_token_secret_is_never_a_store_credential(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, cluster: local.Cluster
) -> None:
    await sk.create_service_account(kube, namespace)
    token = await sk.legacy_token_secret(kube, namespace, "legacy-token", "vault-auth")
    assert api_status(cluster, token) == 200  # what the store's server would have received

    async with sk.controller(kube, namespace):
        auth = {"tokenSecretRef": {"name": "legacy-token", "key": "token"}}
        await sk.apply_store(kube, namespace, "vault", sk.vault(bao.address, auth))
        assert await store_status(kube, namespace, "vault") == (
            "InvalidConfig",
            f"Secret 'legacy-token' in namespace {namespace!r} is a "
            "kubernetes.io/service-account-token Secret; ServiceAccount tokens are never sent "
            "to a store",
        )
    assert not presented(bao, token)
    # The search would have found it: the token presented once, by hand.
    with contextlib.suppress(Exception):
        bao.client(token=token).secrets.kv.v2.read_secret_version(
            path="x", mount_point=KV2, raise_on_deleted_version=True
        )
    assert presented(bao, token)
