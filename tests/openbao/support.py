"""What the OpenBao tests share: store specs, dict-backed readers, Vault seeding.

`Objects` stands in for the Kubernetes objects a store references. It is not a
mock of Kubernetes: the provider's contract is the injected `ProviderContext`
readers, and these serve values from dicts the way the runtime serves them
from the API server.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest

from secretloom.api.vault import VaultProviderSpec
from secretloom.providers.protocol import ProviderContext
from secretloom.providers.vault import NOT_VAULT, VaultProvider
from secretloom.testing.openbao import OpenBaoServer
from secretloom.testing.postgres import PostgresServer

KV2 = "kv2"
KV1 = "kv1"
TOKEN_REF = {"name": "vault-token", "key": "token"}
SECRET_ID_REF = {"name": "approle", "key": "secret-id"}


TTL, MAX_TTL = 4, 12  # of the database role the dynamic-secrets tests use (seconds)


def unique(prefix: str) -> str:
    """A fresh name, so tests sharing one server never see each other's data."""
    return f"{prefix}-{secrets.token_hex(4)}"


@dataclass
class Objects:
    """Secrets and ConfigMaps of the store's namespace, and the token requester."""

    secrets: dict[tuple[str, str], bytes] = field(default_factory=dict)
    configmaps: dict[tuple[str, str], bytes] = field(default_factory=dict)
    jwt: str | None = None  # what the token requester returns; None: no requester
    token_requests: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def context(self) -> ProviderContext:
        async def read_secret_key(name: str, key: str) -> bytes:
            return self.secrets[(name, key)]

        async def read_configmap_key(name: str, key: str) -> bytes:
            return self.configmaps[(name, key)]

        async def request_token(name: str, audiences: tuple[str, ...]) -> str:
            assert self.jwt is not None
            self.token_requests.append((name, audiences))
            return self.jwt

        return ProviderContext(
            namespace="apps",
            read_secret_key=read_secret_key,
            read_configmap_key=read_configmap_key,
            request_token=request_token if self.jwt is not None else None,
        )


def token_objects(token: str) -> Objects:
    return Objects(secrets={(TOKEN_REF["name"], TOKEN_REF["key"]): token.encode()})


def store(server: str, auth: dict[str, Any], **fields: Any) -> VaultProviderSpec:
    """A store on the KV v2 mount unless `path`/`version` say otherwise."""
    return VaultProviderSpec.model_validate({"server": server, "path": KV2, "auth": auth, **fields})


def token_store(server: str, **fields: Any) -> VaultProviderSpec:
    return store(server, {"tokenSecretRef": TOKEN_REF}, **fields)


class OpenProvider(Protocol):
    """Builds a provider that the fixture closes after the test."""

    def __call__(
        self, spec: VaultProviderSpec, objects: Objects, **kwargs: Any
    ) -> VaultProvider: ...


def assert_untrusted(error: BaseException, caplog: pytest.LogCaptureFixture, cause: str) -> None:
    """A server never trusted as Vault: the one message for the tenant, `cause` in the log."""
    assert str(error) == NOT_VAULT
    logged = [r.getMessage() for r in caplog.records if r.name == "secretloom.providers.vault"]
    assert any(m.endswith(f"health check: {cause}") for m in logged), logged


def enable_kv_mounts(server: OpenBaoServer) -> None:
    """Seed for every start: a KV v2 and a KV v1 mount (a dev server starts empty)."""
    root = server.client()
    root.sys.enable_secrets_engine(backend_type="kv", path=KV2, options={"version": "2"})
    root.sys.enable_secrets_engine(backend_type="kv", path=KV1, options={"version": "1"})


def write_policy(root: Any, hcl: str) -> str:
    name = unique("policy")
    root.sys.create_or_update_policy(name=name, policy=hcl)
    return name


def read_policy(*paths: str) -> str:
    return "\n".join(f'path "{path}" {{ capabilities = ["read"] }}' for path in paths)


def make_token(root: Any, *policies: str, **options: Any) -> str:
    """A token with only `policies` (no default policy), as a least-privilege store would."""
    created = root.auth.token.create(policies=list(policies), no_default_policy=True, **options)
    return str(created["auth"]["client_token"])


@dataclass(frozen=True)
class AppRole:
    mount: str
    role_id: str
    secret_id: str

    def objects(self) -> Objects:
        return Objects(
            secrets={(SECRET_ID_REF["name"], SECRET_ID_REF["key"]): self.secret_id.encode()}
        )

    def auth(self) -> dict[str, Any]:
        return {"appRole": {"path": self.mount, "roleId": self.role_id, "secretRef": SECRET_ID_REF}}


def make_approle(
    root: Any, *policies: str, secret_id: str | None = None, ttl: str = "5m"
) -> AppRole:
    """An AppRole on a fresh mount; `secret_id` chooses the SecretID (for canaries)."""
    mount = unique("approle")
    root.sys.enable_auth_method(method_type="approle", path=mount)
    root.auth.approle.create_or_update_approle(
        role_name="app", token_policies=list(policies), token_ttl=ttl, mount_point=mount
    )
    role_id = root.auth.approle.read_role_id(role_name="app", mount_point=mount)["data"]["role_id"]
    if secret_id is None:
        secret_id = root.auth.approle.generate_secret_id(role_name="app", mount_point=mount)[
            "data"
        ]["secret_id"]
    else:
        root.auth.approle.create_custom_secret_id(
            role_name="app", secret_id=secret_id, mount_point=mount
        )
    return AppRole(mount, str(role_id), str(secret_id))


def token_accessors(root: Any) -> set[str]:
    return set(root.auth.token.list_accessors()["data"]["keys"])


def configure_kubernetes_auth(root: Any, ca_pem: bytes) -> str:
    """Kubernetes auth pointing at a closed port: logins get as far as the TokenReview."""
    mount = unique("kubernetes")
    root.sys.enable_auth_method(method_type="kubernetes", path=mount)
    root.write_data(
        f"auth/{mount}/config",
        data={
            "kubernetes_host": "https://127.0.0.1:9",
            "kubernetes_ca_cert": ca_pem.decode(),
            "disable_local_ca_jwt": True,
        },
    )
    root.write_data(
        f"auth/{mount}/role/app",
        data={
            "bound_service_account_names": "app",
            "bound_service_account_namespaces": "apps",
            "audience": "vault",
            "token_policies": "default",
        },
    )
    return mount


def database_engine(
    root: Any, pg: PostgresServer, *, ttl: int = TTL, max_ttl: int = MAX_TTL
) -> str:
    """A database mount on `pg` with role `app` (TTL 4 s, max 12 s unless told); its mount path."""
    mount = unique("database")
    root.sys.enable_secrets_engine(backend_type="database", path=mount)
    root.adapter.post(
        f"/v1/{mount}/config/pg",
        json={
            "plugin_name": "postgresql-database-plugin",
            "connection_url": pg.connection_url(),
            "username": pg.superuser,
            "password": pg.password,
            "allowed_roles": "app,static",
        },
    )
    root.adapter.post(
        f"/v1/{mount}/roles/app",
        json={
            "db_name": "pg",
            "creation_statements": [
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
                "VALID UNTIL '{{expiration}}';"
            ],
            "default_ttl": ttl,
            "max_ttl": max_ttl,
        },
    )
    return mount


def live_leases(root: Any, mount: str) -> int:
    """Leases OpenBao holds under the role, issued and neither expired nor revoked."""
    try:
        found = root.adapter.request("LIST", f"/v1/sys/leases/lookup/{mount}/creds/app")
    except Exception:
        return 0
    return len(found["data"]["keys"])


def lease_policy(mount: str) -> str:
    return (
        f'path "{mount}/creds/app" {{ capabilities = ["read"] }}\n'
        'path "sys/leases/renew" { capabilities = ["update"] }\n'
        'path "sys/leases/revoke" { capabilities = ["update"] }\n'
    )
