"""The generated CRDs on the real apiserver: structural schema and CEL rules refuse bad input."""

from __future__ import annotations

from typing import Any

import pytest

from secretloom.api.crd import SECRET_SYNC
from secretloom.runtime.kube import ApiError, KubeClient
from secretloom.runtime.resources import SECRET_SYNCS


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
