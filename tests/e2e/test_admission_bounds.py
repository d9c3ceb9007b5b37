"""Admission bounds (issue 10): what the API server would refuse later is refused at once.

Before, keys `.`, `..` and `..x` passed admission and then every apply of the
target failed with no condition; `refreshInterval: 1ms` meant 22 Vault reads a
second from one SecretSync and `99999999999h` overflowed on every reconcile; a
`..` path segment was left for the provider to catch; a server URL could carry
credentials into every status message. The same rules hold in the models, so
an object admitted before the rules existed gets `InvalidSpec`, not a crash.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from secretloom.api import secretsync as api
from secretloom.runtime.kube import ApiError, KubeClient
from secretloom.runtime.resources import SECRET_STORES
from tests.e2e import kit
from tests.e2e import stores_kit as sk

STORE_ENTRY = {"store": {"name": "vault"}, "path": "app", "property": "p"}


def _spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "target": {"name": "t"},
        "data": [{"key": "k", "from": dict(STORE_ENTRY)}],
    }
    spec.update(overrides)
    return spec


BAD_SYNCS = (
    [
        pytest.param(
            _spec(data=[{"key": key, "from": dict(STORE_ENTRY)}]), "spec.data[0].key", id=key
        )
        for key in (".", "..", "..x")
    ]
    + [
        pytest.param(_spec(refreshInterval=value), message, id=f"refresh-{value}")
        for value, message in (
            ("1ms", "between 1s and 8760h"),
            ("500ms", "between 1s and 8760h"),
            ("99999999999h", "spec.refreshInterval"),
            ("9000h", "between 1s and 8760h"),
        )
    ]
    + [
        pytest.param(
            _spec(data=[{"key": "k", "from": {**STORE_ENTRY, "path": path}}]),
            "'.' or '..' segments",
            id=f"path-{path}",
        )
        for path in ("../sys", "app/../../auth", "app/./x")
    ]
    + [
        pytest.param(
            _spec(data=[], dataFrom=[{"store": {"name": "vault"}, "path": "a/.."}]),
            "'.' or '..' segments",
            id="dataFrom-path",
        )
    ]
)


@pytest.mark.parametrize(("spec", "expected"), BAD_SYNCS)
async def test_secretsync_bounds_are_enforced_at_admission_and_in_the_model(
    kube: KubeClient, namespace: str, spec: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ApiError) as refused:
        await kit.apply_sync(kube, namespace, "bad", spec)
    assert refused.value.status == 422
    assert expected in refused.value.message
    with pytest.raises(ValidationError):
        api.SecretSyncSpec.model_validate(spec)


@pytest.mark.parametrize("value", ["0", "1s", "90s", "1h30m", "8760h"])
async def test_sane_refresh_intervals_pass(kube: KubeClient, namespace: str, value: str) -> None:
    await kit.apply_sync(kube, namespace, "ok", _spec(refreshInterval=value))
    assert api.SecretSyncSpec.model_validate(_spec(refreshInterval=value)).refresh_interval == value


async def test_a_store_server_with_credentials_is_refused_without_echoing_them(
    kube: KubeClient, namespace: str
) -> None:
    provider = sk.vault("https://alice:hunter2@vault.example:8200")
    body = {
        "apiVersion": "secretloom.io/v1alpha1",
        "kind": "SecretStore",
        "metadata": {"name": "creds"},
        "spec": {"provider": {"vault": provider}},
    }
    with pytest.raises(ApiError) as refused:
        await kube.apply(SECRET_STORES.path(namespace, "creds"), body, field_manager="kubectl")
    assert refused.value.status == 422
    assert "must not contain credentials" in refused.value.message
    assert "hunter2" not in refused.value.message
