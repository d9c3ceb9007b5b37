"""The Vault store spec: wire names, defaults, exactly one auth method, safe paths."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from secretloom.api.vault import (
    AUTH_RULES,
    SPEC_RULES,
    VaultProviderSpec,
    clean_path,
    path_problem,
)
from secretloom.providers import registry
from secretloom.providers.protocol import ProviderContext
from secretloom.providers.vault import VaultProvider, factory

TOKEN = {"tokenSecretRef": {"name": "vault-token", "key": "token"}}
APPROLE = {"appRole": {"roleId": "r-1", "secretRef": {"name": "approle", "key": "secret-id"}}}
KUBERNETES = {"kubernetes": {"role": "app", "serviceAccountRef": {"name": "app"}}}


def spec(**overrides: Any) -> dict[str, Any]:
    return {"server": "https://vault.example:8200", "path": "secret", "auth": TOKEN, **overrides}


def errors(raw: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        VaultProviderSpec.model_validate(raw)
    return str(caught.value)


def test_defaults_and_camel_case_wire_names() -> None:
    parsed = VaultProviderSpec.model_validate(
        spec(
            server="https://vault.example:8200/",
            path="/team/kv/",
            namespace="eng/",
            caProvider={"type": "ConfigMap", "name": "vault-ca", "key": "ca.crt"},
            auth={**APPROLE},
        )
    )
    assert parsed.server == "https://vault.example:8200"
    assert parsed.path == "team/kv"
    assert parsed.version == "v2"
    assert parsed.namespace == "eng"
    assert parsed.ca_provider is not None and parsed.ca_provider.type == "ConfigMap"
    assert parsed.auth.app_role is not None
    assert parsed.auth.app_role.path == "approle"
    assert parsed.auth.app_role.secret_ref.key == "secret-id"

    kube = VaultProviderSpec.model_validate(spec(auth=KUBERNETES)).auth.kubernetes
    assert kube is not None
    assert kube.mount_path == "kubernetes"
    assert kube.service_account_ref.audiences == ("vault",)

    dumped = parsed.model_dump(by_alias=True, exclude_none=True)
    assert set(dumped) == {
        "server",
        "path",
        "version",
        "namespace",
        "caProvider",
        "auth",
        "dynamicPaths",
    }
    assert parsed.dynamic_paths == ()  # nothing issued unless the store's author lists it
    assert set(dumped["auth"]["appRole"]) == {"path", "roleId", "secretRef"}


@pytest.mark.parametrize(
    ("auth", "got"),
    [
        ({}, "got none"),
        ({**TOKEN, **APPROLE}, "got tokenSecretRef, appRole"),
        ({**TOKEN, **APPROLE, **KUBERNETES}, "got tokenSecretRef, appRole, kubernetes"),
    ],
)
def test_exactly_one_auth_method(auth: dict[str, Any], got: str) -> None:
    message = errors(spec(auth=auth))
    assert "set exactly one of tokenSecretRef, appRole, kubernetes" in message
    assert got in message


def test_unknown_fields_and_versions_are_rejected() -> None:
    assert "extra" in errors(spec(auth={**TOKEN, "userpass": {}}))
    assert "'v1' or 'v2'" in errors(spec(version="v3"))
    assert "'Secret' or 'ConfigMap'" in errors(
        spec(caProvider={"type": "Pod", "name": "x", "key": "ca.crt"})
    )


@pytest.mark.parametrize(
    ("server", "problem"),
    [
        ("vault.example:8200", "http:// or https:// URL with a host"),
        ("ftp://vault.example", "http:// or https:// URL with a host"),
        ("https://", "http:// or https:// URL with a host"),
        ("https://vault.example/?x=1", "query or fragment"),
        ("https://vault.example/#frag", "query or fragment"),
    ],
)
def test_server_must_be_a_plain_http_url(server: str, problem: str) -> None:
    assert problem in errors(spec(server=server))


def test_credentials_in_the_server_url_are_refused_without_echoing_them() -> None:
    message = errors(spec(server="https://admin:hunter2-canary@vault.example:8200"))
    assert "must not contain credentials" in message
    assert "hunter2-canary" not in message


def test_ca_provider_needs_https() -> None:
    message = errors(
        spec(server="http://vault.example", caProvider={"type": "Secret", "name": "c", "key": "k"})
    )
    assert "caProvider is set but server is not an https:// URL" in message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("path", "secret/../sys"),
        ("path", "a//b"),
        ("path", "/"),
        ("namespace", "team/./x"),
    ],
)
def test_unsafe_mount_and_namespace_paths(field: str, value: str) -> None:
    assert field in errors(spec(**{field: value}))


def test_unsafe_auth_mount_paths() -> None:
    app_role = {"appRole": {**APPROLE["appRole"], "path": "../token"}}
    assert "'.' or '..' segments" in errors(spec(auth=app_role))
    kube = {"kubernetes": {**KUBERNETES["kubernetes"], "mountPath": "a//b"}}
    assert "empty segments" in errors(spec(auth=kube))


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("app/db", None),
        ("app/db config", None),
        ("", "must not be empty"),
        ("a//b", "must not contain empty segments ('//')"),
        ("a/../b", "must not contain '.' or '..' segments"),
        ("..", "must not contain '.' or '..' segments"),
        ("a/./b", "must not contain '.' or '..' segments"),
        ("a\nb", "must not contain control characters"),
    ],
)
def test_path_problem(path: str, problem: str | None) -> None:
    assert path_problem(path) == problem


def test_clean_path_strips_surrounding_slashes_only() -> None:
    assert clean_path("/secret/app/") == "secret/app"
    assert clean_path("a//b") == "a//b"


def test_audiences_must_not_be_empty() -> None:
    account = {"name": "app", "audiences": []}
    kube = {"kubernetes": {**KUBERNETES["kubernetes"], "serviceAccountRef": account}}
    assert "audiences" in errors(spec(auth=kube))


def test_every_field_is_documented_in_the_json_schema() -> None:
    schema = VaultProviderSpec.model_json_schema(by_alias=True)
    undocumented = [
        f"{model}.{name}"
        for model, definition in [("VaultProviderSpec", schema), *schema["$defs"].items()]
        for name, prop in definition["properties"].items()
        if not prop.get("description")
    ]
    assert undocumented == []


def test_the_schema_carries_the_cel_rules_admission_enforces() -> None:
    schema = VaultProviderSpec.model_json_schema(by_alias=True)
    assert schema["x-kubernetes-validations"] == SPEC_RULES
    assert schema["properties"]["auth"]["x-kubernetes-validations"] == AUTH_RULES
    assert VaultProviderSpec.model_config["hide_input_in_errors"] is True


def test_the_factory_is_registered_under_vault() -> None:
    loaded = registry.load()
    assert loaded.get("vault") is factory
    assert loaded.get("vault").spec_model is VaultProviderSpec


def test_the_registry_builds_a_provider_from_a_raw_spec() -> None:
    async def unused(name: str, key: str) -> bytes:
        raise AssertionError("creating a provider must not read anything")

    ctx = ProviderContext(namespace="ns", read_secret_key=unused, read_configmap_key=unused)
    provider = registry.load().create("vault", spec(), ctx)
    assert isinstance(provider, VaultProvider)
