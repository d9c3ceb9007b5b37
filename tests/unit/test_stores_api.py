"""Store and refresh API rules, without a cluster: specs, scoping, durations, the registry."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import ValidationError

from secretloom.api import crd
from secretloom.api.secretsync import DynamicEntry, SecretSyncSpec, duration_seconds
from secretloom.api.stores import ClusterSecretStoreSpec, LabelSelector, SecretStoreSpec
from secretloom.api.vault import VaultProviderSpec, dynamic_path_allowed
from secretloom.controllers.secretstore.lookup import StoreProblem, parse
from secretloom.controllers.secretstore.scope import refusal, selector_matches
from secretloom.providers import registry
from secretloom.providers.kubernetes import KubernetesProvider, key_bytes
from secretloom.providers.protocol import InvalidConfig, NotFound, ProviderContext, ValueRef

VAULT = {
    "server": "https://vault.example",
    "path": "secret",
    "auth": {"tokenSecretRef": {"name": "t", "key": "t"}},
}
ENTRY = {"key": "k", "from": {"store": {"name": "vault"}, "path": "app", "property": "p"}}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h", 3600), ("1h30m", 5400), ("45s", 45), ("1.5m", 90), ("500ms", 0.5), ("0", 0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "1x", "h", "1h 2m", "-1s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        duration_seconds(text)


def test_a_sync_needs_data_or_data_from_and_defaults_to_hourly_refresh() -> None:
    with pytest.raises(
        ValidationError,
        match=r"spec\.data, spec\.dataFrom or spec\.dynamic needs at least one entry",
    ):
        SecretSyncSpec.model_validate({"target": {"name": "t"}})
    spec = SecretSyncSpec.model_validate(
        {"target": {"name": "t"}, "dataFrom": [{"store": {"name": "vault"}, "path": "app"}]}
    )
    assert spec.refresh_seconds() == 3600
    assert spec.uses_stores()
    assert spec.data_from[0].describe() == "secretstore/vault:app#*"
    kubernetes_only = SecretSyncSpec.model_validate(
        {"target": {"name": "t"}, "data": [{"key": "k", "from": {"secret": "s", "key": "k"}}]}
    )
    assert not kubernetes_only.uses_stores()


def test_the_crd_carries_the_same_rules() -> None:
    spec = crd.definition(crd.SECRET_SYNC)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rules = spec["properties"]["spec"]["x-kubernetes-validations"]
    assert (
        rules[0]["message"] == "spec.data, spec.dataFrom or spec.dynamic needs at least one entry"
    )
    assert "pattern" in spec["properties"]["spec"]["properties"]["refreshInterval"]
    cluster = crd.definition(crd.CLUSTER_SECRET_STORE)
    assert cluster["spec"]["scope"] == "Cluster"
    schema = cluster["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert schema["required"] == ["credentialsNamespace", "provider"]
    assert "x-kubernetes-validations" in schema["properties"]["provider"]


def test_a_store_names_exactly_one_provider() -> None:
    with pytest.raises(ValidationError, match="set exactly one provider"):
        SecretStoreSpec.model_validate({"provider": {}})
    name, spec = SecretStoreSpec.model_validate({"provider": {"vault": VAULT}}).provider.selected()
    assert name == "vault"
    assert spec.model_dump(by_alias=True)["server"] == "https://vault.example"


def test_a_cluster_store_is_closed_unless_it_says_who_may_use_it() -> None:
    base = {"provider": {"vault": VAULT}, "credentialsNamespace": "vault"}
    with pytest.raises(ValidationError, match="set namespaces and/or namespaceSelector"):
        ClusterSecretStoreSpec.model_validate(base)
    open_to_all = ClusterSecretStoreSpec.model_validate({**base, "namespaceSelector": {}})
    assert refusal(open_to_all, "s", "anything", {}) is None


def test_parse_pins_credentials_to_the_right_namespace() -> None:
    def obj(namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
        meta = {"name": "s", "uid": "u", "generation": 2}
        return {
            "metadata": {**meta, **({"namespace": namespace} if namespace else {})},
            "spec": spec,
        }

    handle, _ = parse("SecretStore", obj("apps", {"provider": {"vault": VAULT}}))
    assert handle.credentials_namespace == "apps"
    assert handle.fingerprint == ("u", 2)
    cluster_spec = {
        "provider": {"vault": VAULT},
        "credentialsNamespace": "vault",
        "namespaces": ["a"],
    }
    handle, _ = parse("ClusterSecretStore", obj("", cluster_spec))
    assert (handle.credentials_namespace, handle.key) == ("vault", ("ClusterSecretStore", "", "s"))
    with pytest.raises(StoreProblem) as invalid:
        parse("SecretStore", obj("apps", {"provider": {"vault": {**VAULT, "server": "ftp://x"}}}))
    assert invalid.value.reason == "InvalidSpec"
    assert "ftp" not in invalid.value.message  # input is never echoed


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({}, {}, True),
        ({"matchLabels": {"team": "a"}}, {"team": "a", "x": "y"}, True),
        ({"matchLabels": {"team": "a"}}, {"team": "b"}, False),
        (
            {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "b"]}]},
            {"team": "b"},
            True,
        ),
        ({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["a"]}]}, {}, True),
        (
            {"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["a"]}]},
            {"team": "a"},
            False,
        ),
        ({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, {"team": ""}, True),
        ({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, {"team": ""}, False),
    ],
)
def test_label_selectors(selector: dict[str, Any], labels: dict[str, str], matches: bool) -> None:
    assert selector_matches(LabelSelector.model_validate(selector), labels) is matches


def test_an_unknown_namespace_is_allowed_by_name_only() -> None:
    spec = ClusterSecretStoreSpec.model_validate(
        {
            "provider": {"vault": VAULT},
            "credentialsNamespace": "vault",
            "namespaces": ["listed"],
            "namespaceSelector": {},
        }
    )
    assert refusal(spec, "s", "listed", None) is None
    assert refusal(spec, "s", "other", None) == (
        "ClusterSecretStore 's' does not allow namespace 'other' "
        "(its spec.namespaces and spec.namespaceSelector decide)"
    )


def test_every_built_in_provider_is_registered_by_entry_point() -> None:
    assert registry.load().names() == [
        "aws-parameterstore",
        "aws-secretsmanager",
        "kubernetes",
        "vault",
    ]


async def test_the_kubernetes_provider_reads_one_key_through_its_pinned_reader() -> None:
    secret = {"data": {"k": base64.b64encode(b"v").decode()}}

    async def read_secret_key(name: str, key: str) -> bytes:
        return key_bytes(secret if name == "s" else None, "Secret", name, key)

    async def no_configmaps(name: str, key: str) -> bytes:
        raise AssertionError("not used")

    provider = KubernetesProvider(ProviderContext("apps", read_secret_key, no_configmaps))
    assert await provider.get(ValueRef("s", "k")) == b"v"
    with pytest.raises(NotFound, match="key 'x' not found in Secret 's'"):
        await provider.get(ValueRef("s", "x"))
    with pytest.raises(NotFound, match="Secret 'other' not found"):
        await provider.get(ValueRef("other", "k"))
    with pytest.raises(InvalidConfig, match=r"list each key in spec\.data"):
        await provider.get_all(ValueRef("s"))


def test_configmap_keys_and_credential_semantics() -> None:
    configmap = {"data": {"ca": "PEM"}, "binaryData": {"bin": base64.b64encode(b"\x00").decode()}}
    assert key_bytes(configmap, "ConfigMap", "c", "ca") == b"PEM"
    assert key_bytes(configmap, "ConfigMap", "c", "bin") == b"\x00"
    with pytest.raises(InvalidConfig, match="Secret 'vault-token' not found in namespace 'apps'"):
        key_bytes(None, "Secret", "vault-token", "token", missing=InvalidConfig, namespace="apps")


@pytest.mark.parametrize(
    "path", ["auth/token/lookup-self", "/sys/raw", "cubbyhole/x", "identity/oidc/token/r", "auth"]
)
def test_a_dynamic_entry_never_names_the_stores_own_identity(path: str) -> None:
    with pytest.raises(ValidationError, match="path must not start with"):
        DynamicEntry.model_validate({"store": {"name": "v"}, "path": path})


def test_dynamic_paths_match_segment_by_segment_and_never_a_reserved_root() -> None:
    patterns = ("database/creds/*", "/pki/issue/web/")
    assert dynamic_path_allowed("database/creds/app", patterns)
    assert dynamic_path_allowed("pki/issue/web", patterns)
    assert not dynamic_path_allowed("database/creds/app/rotate", patterns)  # * stays in a segment
    assert not dynamic_path_allowed("database/static-creds/app", patterns)
    assert not dynamic_path_allowed("database/creds/app", ())  # nothing listed: nothing issued
    with pytest.raises(ValidationError, match="dynamicPaths must not name paths under sys/"):
        VaultProviderSpec.model_validate(
            {
                "server": "https://v",
                "path": "secret",
                "auth": {"tokenSecretRef": {"name": "t", "key": "k"}},
                "dynamicPaths": ["sys/*"],
            }
        )
