"""Helpers for the AWS store end-to-end tests: real SecretStores, real moto, no fakes."""

from __future__ import annotations

from typing import Any

from secretloom.api.crd import SECRET_STORE
from secretloom.runtime.kube import KubeClient, Obj
from secretloom.runtime.resources import SECRET_STORES, Resource
from secretloom.runtime.tokens import TokenPolicy
from secretloom.testing.moto import MotoServer
from tests.aws.support import KEY_ID_CANARY, KEYS_SECRET, SECRET_KEY_CANARY, block
from tests.e2e import kit

TOKEN_REVIEWS = Resource("authentication.k8s.io", "v1", "tokenreviews", namespaced=False)
# The operator's allow-list for an IRSA store (`--token-audiences vault,sts.amazonaws.com`).
IRSA_TOKENS = TokenPolicy(audiences=frozenset({"vault", "sts.amazonaws.com"}))


async def apply_store(
    kube: KubeClient, namespace: str, name: str, server: MotoServer, kind: str, **fields: Any
) -> Obj:
    """A SecretStore of provider block `kind` (awsSecretsManager, awsParameterStore) on moto."""
    body = {
        "apiVersion": SECRET_STORE.api_version,
        "kind": SECRET_STORE.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"provider": {kind: block(server, **fields)}},
    }
    return await kube.apply(
        SECRET_STORES.path(namespace, name), body, field_manager="kubectl", force=True
    )


async def put_keys(
    kube: KubeClient, namespace: str, key_id: str = KEY_ID_CANARY, secret: str = SECRET_KEY_CANARY
) -> None:
    """The Secret the static-keys stores read (canary keys unless told)."""
    await kit.put_secret(
        kube, namespace, KEYS_SECRET, {"id": key_id, "secret": secret}, manager="aws-admin"
    )


async def review(kube: KubeClient, token: str, audience: str) -> Obj:
    """The API server's TokenReview of `token` for `audience`: who issued it to whom."""
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token, "audiences": [audience]},
    }
    return await kube.create(TOKEN_REVIEWS.path(), body)
