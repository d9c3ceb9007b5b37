"""Token, AppRole and Kubernetes auth from a SecretStore, and the conditions of each failure.

Kubernetes auth is real end to end: the controller asks the local apiserver
for a ServiceAccount token (TokenRequest, audience `vault`), OpenBao verifies
it by calling TokenReview on that same apiserver, and only then issues a
Vault token. Failures must read as one clear condition message: never a
traceback, never a credential.
"""

from __future__ import annotations

import json
from typing import Any

from secretloom.runtime.kube import KubeClient
from secretloom.runtime.resources import SECRETS
from secretloom.testing import cluster as local
from secretloom.testing.openbao import OpenBaoServer
from tests.e2e import kit
from tests.e2e import stores_kit as sk
from tests.openbao.support import (
    KV2,
    make_token,
    read_policy,
    unique,
    write_policy,
)

TARGET = "app-secret"


async def store_then_sync(
    kube: KubeClient, namespace: str, provider: dict[str, Any], path: str, refresh: str = "1h"
) -> None:
    await sk.apply_store(kube, namespace, "vault", provider)
    spec = sk.sync(TARGET, {"key": sk.from_store("vault", path, "key")}, refresh=refresh)
    await kit.apply_sync(kube, namespace, "app", spec)


def assert_clean(obj: dict[str, Any], *secrets: str) -> None:
    text = json.dumps(obj.get("status"))
    assert "Traceback" not in text and 'File "' not in text
    for secret in secrets:
        assert secret not in text


async def test_token_auth_and_a_revoked_token_then_a_rotated_one(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any
) -> None:
    path = unique("app")
    sk.seed(root, path, key="v1")
    policy = write_policy(root, read_policy(f"{KV2}/data/{path}"))
    token = make_token(root, policy)
    async with sk.controller(kube, namespace):
        await sk.put_token(kube, namespace, token)
        await store_then_sync(kube, namespace, sk.vault(bao.address), path, refresh="1s")
        await kit.wait_condition(kube, namespace, "app", "Ready")
        before = await kit.get_secret(kube, namespace, TARGET)

        root.auth.token.revoke(token)
        failed = await kit.wait_condition(kube, namespace, "app", "ProviderError")
        assert sk.reason_and_message(failed, "ProviderError") == (
            "Unauthorized",
            # the path is read whole, once for every property any SecretSync names
            f"entry 'key': secretstore/vault: vault {bao.address} mount 'kv2' path '{path}' "
            "(token auth): permission denied (HTTP 403)",
        )
        assert kit.condition(failed, "Ready")["reason"] == "ProviderError"
        assert_clean(failed, token)
        assert await kit.get_secret(kube, namespace, TARGET) == before  # untouched
        store = await sk.wait_store(kube, namespace, "vault", "False")
        assert kit.condition(store, "Ready")["reason"] == "Unauthorized"

        # The owner rotates the token Secret; nobody touches the SecretSync or the store.
        await sk.put_token(kube, namespace, make_token(root, policy))
        sk.seed(root, path, key="v2")

        async def recovered() -> bool:
            return kit.values(await kit.get_secret(kube, namespace, TARGET)) == {"key": "v2"}

        await kit.eventually(recovered, timeout=10)
        await kit.wait_condition(kube, namespace, "app", "Ready")
        await sk.wait_store(kube, namespace, "vault")


async def test_approle_auth(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any
) -> None:
    path, app_role = sk.approle_path(root, "via-approle")
    async with sk.controller(kube, namespace):
        await sk.put_secret_id(kube, namespace, app_role)
        await store_then_sync(kube, namespace, sk.vault(bao.address, app_role.auth()), path)
        synced = await kit.wait_condition(kube, namespace, "app", "Ready")
        assert kit.values(await kit.get_secret(kube, namespace, TARGET)) == {"key": "via-approle"}
        assert_clean(synced, app_role.secret_id)
        await sk.wait_store(kube, namespace, "vault")


async def test_kubernetes_auth_with_a_requested_service_account_token(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any, cluster: local.Cluster
) -> None:
    path = unique("app")
    sk.seed(root, path, key="via-kubernetes")
    policy = write_policy(root, read_policy(f"{KV2}/data/{path}"))
    mount = sk.kubernetes_auth(root, cluster, namespace, policy)

    async with sk.controller(kube, namespace):
        await sk.create_service_account(kube, namespace)
        await store_then_sync(
            kube, namespace, sk.vault(bao.address, sk.kubernetes_login(mount)), path
        )
        await kit.wait_condition(kube, namespace, "app", "Ready")
        assert kit.values(await kit.get_secret(kube, namespace, TARGET)) == {
            "key": "via-kubernetes"
        }
        await sk.wait_store(kube, namespace, "vault")
        secrets, _ = await kube.list(SECRETS.path(namespace))
        assert all(s["type"] != "kubernetes.io/service-account-token" for s in secrets)

        wrong_role = sk.kubernetes_login(mount, role="no-such-role")
        await sk.apply_store(kube, namespace, "vault", sk.vault(bao.address, wrong_role))
        store = await sk.wait_store(kube, namespace, "vault", "False")
        assert sk.reason_and_message(store, "Ready") == (
            "Unauthorized",
            f"vault {bao.address} mount 'kv2' (kubernetes auth) login at auth/{mount} as role "
            "'no-such-role' (service account 'vault-auth'): credentials rejected (HTTP 400)",
        )
        assert_clean(store)


async def test_a_missing_credential_secret_is_invalid_config_naming_it(
    kube: KubeClient, namespace: str, bao: OpenBaoServer
) -> None:
    async with sk.controller(kube, namespace):
        await store_then_sync(kube, namespace, sk.vault(bao.address), unique("app"))
        failed = await kit.wait_condition(kube, namespace, "app", "ProviderError")
        assert sk.reason_and_message(failed, "ProviderError") == (
            "InvalidConfig",
            f"entry 'key': secretstore/vault: Secret 'vault-token' not found in namespace "
            f"{namespace!r}",
        )
        store = await sk.wait_store(kube, namespace, "vault", "False")
        assert kit.condition(store, "Ready")["reason"] == "InvalidConfig"
        assert await kit.get_secret(kube, namespace, TARGET) is None
