"""The `spec.provider.vault` block of a SecretStore (HashiCorp Vault and OpenBao).

The shape follows External Secrets' Vault provider so manifests port over with
few edits, with three deliberate differences:

* No `namespace` field on any reference. Credential and CA Secrets are read
  from the namespace the store is used from (ESO CVE-2026-42875 was exactly a
  cross-namespace read through such a field).
* The auth block is three optional sub-objects plus a validator requiring
  exactly one, rather than a union of models: the CRD schema stays a plain
  object that `kubectl explain` can document, at the cost of stating the
  rule twice: a pydantic validator, and a CEL rule (`AUTH_RULES`) in the
  schema so admission refuses it too.
* Paths are validated here and again by the provider for every value
  reference: a `..` segment would be normalised away by the HTTP stack and let
  a reference escape its KV mount (e.g. into `auth/token/lookup-self`).
* `dynamicPaths` is the store author's list of issuing paths that SecretSyncs
  may request (`spec.dynamic`). A dynamic path starts at the server's root and
  may carry parameters (a write), so without the list any SecretSync of the
  namespace could read the store's own token (`auth/token/lookup-self`) or
  write wherever the token may. Paths under `auth/`, `sys/`, `cubbyhole/` and
  `identity/` (the token itself, the server's configuration, the token's
  private storage and its identity tokens) are refused even when listed.

Validation errors never echo the input (`hide_input_in_errors`): a server URL
with embedded credentials must not travel into a status condition.
"""

from __future__ import annotations

import fnmatch
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, JsonValue, field_validator, model_validator

from secretloom.api.base import Model

KVVersion = Literal["v1", "v2"]
CAProviderType = Literal["Secret", "ConfigMap"]

# The character set Kubernetes accepts for Secret and ConfigMap data keys.
_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"


# The same rules as the validators below, as CEL for the CRD, so `kubectl apply`
# refuses what the controller would refuse.
AUTH_RULES: list[JsonValue] = [
    {
        "rule": "(has(self.tokenSecretRef) ? 1 : 0) + (has(self.appRole) ? 1 : 0)"
        " + (has(self.kubernetes) ? 1 : 0) == 1",
        "message": "set exactly one of tokenSecretRef, appRole, kubernetes",
    }
]
SPEC_RULES: list[JsonValue] = [
    {
        "rule": "!self.server.matches('^[^:/?#]*://[^/?#]*@')",
        "message": "server must not contain credentials (user:password@)",
    },
    {
        "rule": "!has(self.caProvider) || self.server.lowerAscii().startsWith('https://')",
        "message": "caProvider is set but server is not an https:// URL",
    },
]


# The roots under which a request reads or changes the store's own identity, never credentials
# for a consumer; `dynamicPaths` cannot name them, nor a SecretSync's `spec.dynamic`.
RESERVED_ROOTS = ("auth", "sys", "cubbyhole", "identity")
RESERVED_ROOT_RULES: list[JsonValue] = [
    {
        "rule": "!self.matches('^/*(" + "|".join(RESERVED_ROOTS) + ")(/|$)')",
        "message": "path must not start with " + ", ".join(f"{r}/" for r in RESERVED_ROOTS),
    }
]


# A `.` or `..` segment: the HTTP stack would normalise it away and let a path escape its mount.
DOT_SEGMENTS_RULE: JsonValue = {
    "rule": "!self.matches('(^|/)[.][.]?(/|$)')",
    "message": "path must not contain '.' or '..' segments",
}

# `path_problem` as CEL, so admission refuses what the provider would (surrounding slashes
# are allowed: they are stripped).
VAULT_PATH_RULES: list[JsonValue] = [
    {
        "rule": "!self.matches('[\\x00-\\x1f\\x7f]')",
        "message": "path must not contain control characters",
    },
    {"rule": "!self.matches('[^/]//+[^/]')", "message": "path must not contain empty segments"},
    DOT_SEGMENTS_RULE,
    {"rule": "self.matches('[^/]')", "message": "path must not be empty"},
]

DynamicPath = Annotated[
    str,
    Field(
        min_length=1,
        max_length=512,
        json_schema_extra={"x-kubernetes-validations": [*VAULT_PATH_RULES, *RESERVED_ROOT_RULES]},
    ),
]


def _name_field(description: str) -> Any:
    return Field(min_length=1, max_length=253, description=description)


def _key_field(description: str) -> Any:
    return Field(min_length=1, max_length=253, pattern=_KEY_PATTERN, description=description)


def path_problem(path: str) -> str | None:
    """Why a slash-separated Vault path is unsafe to send, or None if it is fine.

    Surrounding slashes must already be stripped (see `clean_path`).
    """
    if not path:
        return "must not be empty"
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return "must not contain control characters"
    segments = path.split("/")
    if "" in segments:
        return "must not contain empty segments ('//')"
    if "." in segments or ".." in segments:
        return "must not contain '.' or '..' segments"
    return None


def reserved_root(path: str) -> str | None:
    """The reserved root `path` (surrounding slashes stripped) starts with, if any."""
    root = path.split("/", 1)[0]
    return root if root in RESERVED_ROOTS else None


def dynamic_path_allowed(path: str, patterns: tuple[str, ...]) -> bool:
    """True if `path` matches one of `patterns` segment by segment (`*` within one segment).

    Segment by segment rather than `fnmatch` on the whole path: its `*` crosses `/`, so
    `database/creds/*` would allow every path below it, e.g. `database/creds/app/rotate`.
    """
    segments = path.split("/")
    return any(
        len(parts) == len(segments)
        and all(fnmatch.fnmatchcase(s, p) for s, p in zip(segments, parts, strict=True))
        for parts in (clean_path(pattern).split("/") for pattern in patterns)
    )


def clean_path(path: str) -> str:
    """`path` without surrounding slashes ("secret/" and "secret" are the same mount)."""
    return path.strip("/")


# `server_url` as CEL (credentials have their own rule on the spec, which names the field).
URL_RULES: list[JsonValue] = [
    {
        "rule": "self.matches('(?i)^https?://[^/?#@:]')",
        "message": "must be an http:// or https:// URL with a host",
    },
    {"rule": "!self.matches('[?#]')", "message": "must not contain a query or fragment"},
]


def server_url(value: str, field: str) -> str:
    """An http(s) URL with a host, no credentials, query or fragment; trailing / dropped."""
    # Messages here never repeat the value: it may carry credentials.
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{field} must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{field} must not contain credentials")
    if parts.query or parts.fragment:
        raise ValueError(f"{field} must not contain a query or fragment")
    return value.rstrip("/")


def _checked_path(value: str) -> str:
    cleaned = clean_path(value)
    problem = path_problem(cleaned)
    if problem is not None:
        raise ValueError(problem)
    return cleaned


class _VaultModel(Model):
    model_config = ConfigDict(hide_input_in_errors=True)


class SecretKeyRef(_VaultModel):
    """One key of a Secret in the namespace the store is used from."""

    name: str = _name_field("Name of the Secret.")
    key: str = _key_field("Key within the Secret's data.")


class CAProvider(_VaultModel):
    """Where the PEM CA bundle that verifies the Vault server's certificate lives."""

    type: CAProviderType = Field(description="Kind of object holding the bundle.")
    name: str = _name_field("Name of the Secret or ConfigMap.")
    key: str = _key_field("Key holding one or more PEM certificates.")


class AppRoleAuth(_VaultModel):
    """AppRole login: a role ID (not secret) plus a secret ID read from a Secret."""

    path: str = Field(
        default="approle",
        min_length=1,
        description="Mount path of the AppRole auth method, without the `auth/` prefix.",
        json_schema_extra={"x-kubernetes-validations": VAULT_PATH_RULES},
    )
    role_id: str = Field(min_length=1, description="The role's RoleID.")
    secret_ref: SecretKeyRef = Field(description="Secret key holding the SecretID.")

    _path = field_validator("path")(_checked_path)


class ServiceAccountRef(_VaultModel):
    """A ServiceAccount whose short-lived token (TokenRequest API) is the login JWT."""

    name: str = _name_field("Name of the ServiceAccount.")
    audiences: tuple[Annotated[str, Field(min_length=1)], ...] = Field(
        default=("vault",),
        min_length=1,
        description=(
            "Audiences requested for the token; must match the Vault role's "
            "`audience` (a token for the wrong audience is rejected)."
        ),
    )


class KubernetesAuth(_VaultModel):
    """Kubernetes auth: Vault validates a ServiceAccount token with a TokenReview."""

    mount_path: str = Field(
        default="kubernetes",
        min_length=1,
        description="Mount path of the Kubernetes auth method, without the `auth/` prefix.",
        json_schema_extra={"x-kubernetes-validations": VAULT_PATH_RULES},
    )
    role: str = Field(min_length=1, description="Vault role bound to the ServiceAccount.")
    service_account_ref: ServiceAccountRef = Field(
        description="ServiceAccount, in the store's namespace, to request a token for."
    )

    _mount_path = field_validator("mount_path")(_checked_path)


class VaultAuth(_VaultModel):
    """How to obtain a Vault token. Exactly one method must be set."""

    token_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description=(
            "A static token read from a Secret. It is used as is and never revoked "
            "by secretloom; its renewal is the owner's job."
        ),
    )
    app_role: AppRoleAuth | None = Field(
        default=None,
        description="AppRole login; the token obtained is revoked when the client closes.",
    )
    kubernetes: KubernetesAuth | None = Field(
        default=None,
        description=(
            "Kubernetes auth with a ServiceAccount token; the Vault token obtained is "
            "revoked when the client closes."
        ),
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> VaultAuth:
        chosen = self.methods()
        if len(chosen) != 1:
            got = ", ".join(chosen) or "none"
            raise ValueError(f"set exactly one of tokenSecretRef, appRole, kubernetes (got {got})")
        return self

    def methods(self) -> list[str]:
        """Wire names of the methods that are set, in declaration order."""
        return [
            name
            for name, value in (
                ("tokenSecretRef", self.token_secret_ref),
                ("appRole", self.app_role),
                ("kubernetes", self.kubernetes),
            )
            if value is not None
        ]


class VaultProviderSpec(_VaultModel):
    """A Vault or OpenBao KV secrets engine, one mount per store."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": SPEC_RULES})

    server: str = Field(
        max_length=2048,
        description=(
            "Base URL of the server, e.g. `https://vault.example:8200`. No credentials, "
            "query or fragment; a path prefix is allowed for servers behind a proxy."
        ),
        json_schema_extra={"x-kubernetes-validations": URL_RULES},
    )
    path: str = Field(
        max_length=512,
        description=(
            "Mount path of the KV secrets engine, e.g. `secret`. Value references are "
            "relative to it."
        ),
        json_schema_extra={"x-kubernetes-validations": VAULT_PATH_RULES},
    )
    version: KVVersion = Field(
        default="v2",
        description="KV engine version of the mount; `validate` checks it against the server.",
    )
    namespace: str | None = Field(
        default=None,
        max_length=512,
        description=(
            "Vault Enterprise / OpenBao namespace, sent as `X-Vault-Namespace` on every "
            "request including login."
        ),
        json_schema_extra={"x-kubernetes-validations": VAULT_PATH_RULES},
    )
    ca_provider: CAProvider | None = Field(
        default=None,
        description=(
            "PEM CA bundle that replaces the system trust store for this server. "
            "Requires an https server."
        ),
    )
    auth: VaultAuth = Field(
        description="How to authenticate; exactly one method.",
        json_schema_extra={"x-kubernetes-validations": AUTH_RULES},
    )
    dynamic_paths: tuple[DynamicPath, ...] = Field(
        default=(),
        max_length=32,
        description=(
            "Issuing paths, from the server's root, that SecretSyncs may request through this "
            "store in `spec.dynamic`, e.g. `database/creds/*`; `*` matches within one path "
            "segment. Empty: no dynamic credentials through this store. List issuing endpoints "
            "only: a request with parameters is a write. Paths under auth/, sys/, cubbyhole/ and "
            "identity/ are refused."
        ),
    )

    _path = field_validator("path")(_checked_path)

    @field_validator("dynamic_paths")
    @classmethod
    def _dynamic_paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            _checked_path(pattern)
            root = reserved_root(clean_path(pattern))
            if root is not None:
                raise ValueError(f"dynamicPaths must not name paths under {root}/")
        return value

    @field_validator("namespace")
    @classmethod
    def _check_namespace(cls, value: str | None) -> str | None:
        return None if value is None else _checked_path(value)

    @field_validator("server")
    @classmethod
    def _check_server(cls, value: str) -> str:
        return server_url(value, "server")

    @model_validator(mode="after")
    def _ca_needs_https(self) -> VaultProviderSpec:
        if self.ca_provider is not None and urlsplit(self.server).scheme != "https":
            raise ValueError("caProvider is set but server is not an https:// URL")
        return self
