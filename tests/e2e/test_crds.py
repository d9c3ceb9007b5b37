"""The generated CRDs on the real apiserver: structural schema and CEL rules refuse bad input."""

from __future__ import annotations

from typing import Any

import pytest

from secretloom.api.crd import SECRET_STORE, SECRET_SYNC
from secretloom.runtime.kube import ApiError, KubeClient
from secretloom.runtime.resources import SECRET_STORES, SECRET_SYNCS


def _sync(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": SECRET_SYNC.api_version,
        "kind": SECRET_SYNC.kind,
        "metadata": {"name": "bad"},
        "spec": spec,
    }


VALID_ENTRY = {"key": "token", "from": {"secret": "source", "key": "token"}}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"target": {"name": "t"}, "data": [{**VALID_ENTRY, "key": "bad key!"}]},
            "spec.data[0].key",
        ),
        ({"target": {"name": "Not_A_Name"}, "data": [VALID_ENTRY]}, "spec.target.name"),
        (
            {
                "target": {"name": "t", "type": "kubernetes.io/service-account-token"},
                "data": [VALID_ENTRY],
            },
            "spec.target.type",
        ),
        (
            {"target": {"name": "t"}, "data": [{"key": "k", "from": {"key": "k"}}]},
            "exactly one of from.secret, from.store or from.sealed must be set",
        ),
        (
            {"target": {"name": "t"}, "data": [{"key": "k", "from": {"secret": "s"}}]},
            "from.secret needs from.key",
        ),
        (
            {"target": {"name": "t"}, "data": [VALID_ENTRY, VALID_ENTRY]},
            'spec.data[1]: Duplicate value: {"key":"token"}',
        ),
        ({"target": {"name": "t"}, "data": []}, "spec.data"),
        (
            {
                "target": {"name": "t"},
                "dynamic": [{"store": {"name": "v"}, "path": "auth/token/lookup-self"}],
            },
            'spec.dynamic[0].path: Invalid value: "string": path must not start with auth/',
        ),
        (
            {"target": {"name": "t"}, "dynamic": [{"store": {"name": "v"}, "path": "/sys/raw"}]},
            "spec.dynamic[0].path",
        ),
        (
            {
                "target": {"name": "t"},
                "dynamic": [{"store": {"name": "v"}, "path": "db/creds/a", "revokeGrace": "2h"}],
            },
            "revokeGrace must be at most 1h",
        ),
    ],
)
async def test_malformed_secretsync_is_refused_with_the_field_named(
    kube: KubeClient, namespace: str, spec: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ApiError) as refused:
        await kube.create(SECRET_SYNCS.path(namespace), _sync(spec))
    assert refused.value.status == 422
    assert expected in refused.value.message


async def test_unknown_field_is_refused_under_strict_field_validation(
    kube: KubeClient, namespace: str
) -> None:
    body = _sync({"target": {"name": "t", "forse": True}, "data": [VALID_ENTRY]})
    with pytest.raises(ApiError) as refused:
        await kube.request(
            "POST", SECRET_SYNCS.path(namespace), params={"fieldValidation": "Strict"}, body=body
        )
    assert 'unknown field "spec.target.forse"' in refused.value.message


async def test_valid_secretsync_gets_defaults(kube: KubeClient, namespace: str) -> None:
    created = await kube.create(
        SECRET_SYNCS.path(namespace), _sync({"target": {"name": "t"}, "data": [VALID_ENTRY]})
    )
    assert created["spec"]["target"] == {
        "name": "t",
        "creationPolicy": "Merge",
        "createIfMissing": True,
        "deletionPolicy": "Delete",
        "adopt": False,
        "force": False,
        "type": "Opaque",
    }


def _vault_store(**fields: Any) -> dict[str, Any]:
    """A SecretStore named `bad` whose Vault block is valid but for `fields`."""
    vault = {
        "server": "https://vault.example",
        "path": "secret",
        "auth": {"tokenSecretRef": {"name": "t", "key": "token"}},
        **fields,
    }
    return {
        "apiVersion": SECRET_STORE.api_version,
        "kind": SECRET_STORE.kind,
        "metadata": {"name": "bad"},
        "spec": {"provider": {"vault": vault}},
    }


RESERVED = "path must not start with auth/, sys/, cubbyhole/, identity/"


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("cubbyhole/*", RESERVED),
        ("identity/oidc/token/*", RESERVED),
        ("/sys", RESERVED),
        ("auth/token/*", RESERVED),
        ("database//creds/*", "path must not contain empty segments"),
        ("database/creds/../../sys/raw", "path must not contain '.' or '..' segments"),
    ],
)
async def test_a_store_cannot_let_dynamic_paths_reach_its_own_identity(
    kube: KubeClient, namespace: str, pattern: str, expected: str
) -> None:
    body = _vault_store(dynamicPaths=["database/creds/*", pattern])
    with pytest.raises(ApiError) as refused:
        await kube.create(SECRET_STORES.path(namespace), body)
    assert refused.value.status == 422
    assert "spec.provider.vault.dynamicPaths[1]" in refused.value.message
    assert expected in refused.value.message


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("server", "ftp://vault.example", "must be an http:// or https:// URL with a host"),
        ("server", "https://vault.example/?token=x", "must not contain a query or fragment"),
        ("namespace", "team//a", "path must not contain empty segments"),
    ],
)
async def test_a_vault_store_is_refused_at_admission_as_its_provider_would_refuse_it(
    kube: KubeClient, namespace: str, field: str, value: str, expected: str
) -> None:
    with pytest.raises(ApiError) as refused:
        await kube.create(SECRET_STORES.path(namespace), _vault_store(**{field: value}))
    assert refused.value.status == 422
    assert f"spec.provider.vault.{field}" in refused.value.message
    assert expected in refused.value.message
