"""SecretSync: one writer's keys in one target Secret.

A SecretSync declares which keys it contributes to a target Secret and where
each value comes from. It owns exactly those keys through server-side apply
field ownership; other writers (Helm, other SecretSyncs, Argo CD) own theirs.
The schema is strict so that mistakes are refused at admission with the field
named: key syntax, unique keys (a list-map keyed by `key`), exactly one source
per entry, target Secret types from an allow-list (never a service-account
token; see ESO CVE-2026-42876).

Values come from a Secret of the SecretSync's own namespace (`from.secret`) or
from a store (`from.store`, a SecretStore of the same namespace or a
ClusterSecretStore that allows it). `dataFrom` copies every property of one
store path, each property becoming a key (`prefix` + property name); explicit
`data` entries win over `dataFrom` keys, and an earlier `dataFrom` entry over a
later one. Store values are polled every `refreshInterval` (Go duration syntax,
default 1h, "0" for never), with jitter; Kubernetes sources are watched and
need no polling.

`templates` (issue 14) adds keys rendered from the values the entries above
resolved, and from nothing else: a sandboxed Jinja2 template whose only
variable is `data` (see `controllers/secretsync/templates.py`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, JsonValue, field_validator, model_validator

from secretloom.api.base import Model
from secretloom.api.conditions import Condition
from secretloom.api.sealing import SealedValue
from secretloom.api.vault import (
    DOT_SEGMENTS_RULE,
    RESERVED_ROOT_RULES,
    clean_path,
    reserved_root,
)

GROUP = "secretloom.io"
VERSION = "v1alpha1"
KIND = "SecretSync"
PLURAL = "secretsyncs"

# What the API server accepts as a Secret key: [-._a-zA-Z0-9]+, but never "." or
# ".." and never a leading "..". Admission refuses the rest instead of the API
# server refusing every apply of the target later, with no condition.
SECRET_KEY_PATTERN = r"^\.?[-_a-zA-Z0-9][-._a-zA-Z0-9]*$"  # noqa: S105 (a pattern, not a password)
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# At most four parts of five digits: the largest value stays far below Go's
# duration limit (~2.5M hours), so CEL's duration() never overflows.
DURATION_PATTERN = r"^(0|([0-9]{1,5}(\.[0-9]{1,5})?(ms|s|m|h)){1,4})$"
MIN_REFRESH_SECONDS = 1.0
MAX_REFRESH_SECONDS = 8760 * 3600.0  # one year
REFRESH_RULES: list[JsonValue] = [
    {
        "rule": "self == '0' || (duration(self) >= duration('1s')"
        " && duration(self) <= duration('8760h'))",
        "message": 'refreshInterval must be "0" (never poll) or between 1s and 8760h',
    }
]
PATH_RULES: list[JsonValue] = [DOT_SEGMENTS_RULE]
REFRESH_ANNOTATION = "secretloom.io/refresh-requested"

SecretKey = Annotated[str, Field(min_length=1, max_length=253, pattern=SECRET_KEY_PATTERN)]
ObjectName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
NamespaceName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]

_DOT_SEGMENT = re.compile(r"(^|/)\.\.?(/|$)")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def conditions_field(description: str) -> Any:
    """A status `conditions` list: a list-map keyed by type, as kubectl expects."""
    return Field(
        default_factory=list,
        description=description,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )


def _no_dot_segments(value: str | None) -> str | None:
    # The HTTP stack would normalise them away and let a path escape its mount.
    if value is not None and _DOT_SEGMENT.search(value):
        raise ValueError("path must not contain '.' or '..' segments")
    return value


def duration_seconds(text: str) -> float:
    """Seconds in a Go-style duration such as `1h30m` or `45s` ("0" is zero)."""
    if text == "0":
        return 0.0
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r} (e.g. 1h, 30m, 45s)")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


TargetType = Literal[
    "Opaque",
    "kubernetes.io/basic-auth",
    "kubernetes.io/ssh-auth",
    "kubernetes.io/tls",
    "kubernetes.io/dockerconfigjson",
    "kubernetes.io/dockercfg",
]


class Target(Model):
    name: ObjectName = Field(
        description="Name of the target Secret, in the SecretSync's namespace."
    )
    creation_policy: Literal["Merge", "Owner"] = Field(
        default="Merge",
        description=(
            "Merge: contribute only this SecretSync's keys to a Secret others may share. "
            "Owner: this SecretSync creates the Secret and owns it whole; it carries an "
            "ownerReference and is garbage-collected with the SecretSync, unless other "
            "field managers still own keys in it (then only this SecretSync's keys and "
            "ownerReference are removed). An existing Secret is taken over only with "
            "`adopt: true`."
        ),
    )
    create_if_missing: bool = Field(
        default=True,
        description=(
            "Create the target when it does not exist. false: wait (condition TargetMissing) "
            "and write the moment it appears."
        ),
    )
    deletion_policy: Literal["Delete", "Retain"] = Field(
        default="Delete",
        description=(
            "When the SecretSync is deleted: Delete removes its keys (and nothing else; "
            "with creationPolicy Owner the Secret is garbage-collected); Retain leaves "
            "the keys (and an owned Secret) in place. Removing one data entry always "
            "removes that key."
        ),
    )
    adopt: bool = Field(
        default=False,
        description=(
            "With creationPolicy Owner: take ownership of a Secret that already exists "
            "(add this SecretSync's ownerReference). Without it an existing Secret this "
            "SecretSync did not create is left alone (Ready=False, reason AdoptionRequired). "
            "Keys of other field managers are never deleted either way."
        ),
    )
    force: bool = Field(
        default=False,
        description=(
            "Take over keys another SecretSync owns. Without it a conflict is reported "
            "(condition Conflict) and nothing is written for those keys. When two "
            "SecretSyncs force the same key, the older one keeps it. Keys of writers that "
            "are not SecretSyncs (Helm, kubectl, other operators) are taken only if the "
            "operator runs the controller with --force-foreign-managers."
        ),
    )
    type: TargetType = Field(
        default="Opaque",
        description="Secret type used when this SecretSync creates the target.",
    )


# AWS pins (issue 16): strings, unlike Vault's and Parameter Store's numbered versions.
VERSION_STAGE_FIELD: Any = Field(
    default=None,
    min_length=1,
    max_length=256,
    description="Version stage (AWS Secrets Manager, e.g. AWSPREVIOUS) or label (Parameter Store).",
)
VERSION_ID_FIELD: Any = Field(
    default=None,
    min_length=1,
    max_length=64,
    pattern=r"^[-a-zA-Z0-9]+$",
    description="Version ID (AWS Secrets Manager).",
)


class StoreRef(Model):
    name: ObjectName = Field(description="Name of the store.")
    kind: Literal["SecretStore", "ClusterSecretStore"] = Field(
        default="SecretStore", description="SecretStore (same namespace) or ClusterSecretStore."
    )
    namespace: str | None = Field(
        default=None,
        description=(
            "Must be empty (or, for a SecretStore, the SecretSync's own namespace): a "
            "SecretStore is used only from its namespace. Present so that a cross-namespace "
            "reference is refused loudly, not ignored."
        ),
    )

    def describe(self) -> str:
        return f"{self.kind.lower()}/{self.name}"


class Source(Model):
    """Where one value comes from: a Secret in the same namespace, or a secret store."""

    secret: ObjectName | None = Field(
        default=None, description="Name of a Secret in the SecretSync's own namespace."
    )
    namespace: str | None = Field(
        default=None,
        description=(
            "Must be empty or the SecretSync's own namespace: reads are pinned to it. "
            "Present so that a cross-namespace reference is refused loudly, not ignored."
        ),
    )
    key: SecretKey | None = Field(default=None, description="Key in the source Secret.")
    store: StoreRef | None = Field(default=None, description="A SecretStore or ClusterSecretStore.")
    path: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="Path in the store (e.g. Vault: mount-relative).",
        json_schema_extra={"x-kubernetes-validations": PATH_RULES},
    )
    property: str | None = Field(default=None, description="Property of the path's data.")
    version: int | None = Field(
        default=None, ge=1, description="Pinned version (Vault KV v2, Parameter Store)."
    )
    version_stage: str | None = VERSION_STAGE_FIELD
    version_id: str | None = VERSION_ID_FIELD
    sealed: SealedValue | None = Field(
        default=None,
        description=(
            "A value sealed for the controller's certificate (Bitnami Sealed Secrets format), "
            "opened by the controller; see docs/sealed-secrets.md."
        ),
    )

    _path = field_validator("path")(_no_dot_segments)


SOURCE_RULES: list[JsonValue] = [
    {
        "rule": "[has(self.secret), has(self.store), has(self.sealed)].filter(x, x).size() == 1",
        "message": "exactly one of from.secret, from.store or from.sealed must be set",
    },
    {"rule": "!has(self.secret) || has(self.key)", "message": "from.secret needs from.key"},
    {
        "rule": "!has(self.store) || has(self.path)",
        "message": "from.store needs from.path",
    },
]


class DataEntry(Model):
    key: SecretKey = Field(description="Key written in the target Secret.")
    from_: Source = Field(
        alias="from",
        description="Where the value comes from.",
        json_schema_extra={"x-kubernetes-validations": SOURCE_RULES},
    )


class DataFromEntry(Model):
    """Every property of one store path, each written as a key of the target."""

    store: StoreRef = Field(description="A SecretStore or ClusterSecretStore.")
    path: str = Field(
        min_length=1,
        max_length=1024,
        description="Path in the store (e.g. Vault: mount-relative).",
        json_schema_extra={"x-kubernetes-validations": PATH_RULES},
    )
    version: int | None = Field(
        default=None, ge=1, description="Pinned version (Vault KV v2 only)."
    )
    version_stage: str | None = VERSION_STAGE_FIELD
    version_id: str | None = VERSION_ID_FIELD
    prefix: str = Field(
        default="",
        max_length=128,
        pattern=r"^[-._a-zA-Z0-9]*$",
        description="Prepended to each property name to make the target key.",
    )

    _path = field_validator("path")(_no_dot_segments)

    def describe(self) -> str:
        pinned = next(
            (v for v in (self.version, self.version_stage, self.version_id) if v is not None), None
        )
        at = "" if pinned is None else f"@{pinned}"
        return f"{self.store.describe()}:{self.path}{at}#*"


REVOKE_GRACE_RULES: list[JsonValue] = [
    {"rule": "duration(self) <= duration('1h')", "message": "revokeGrace must be at most 1h"}
]


class DynamicEntry(Model):
    """Credentials a store issues under a lease (issue 14): every field of one lease, together."""

    store: StoreRef = Field(description="A SecretStore or ClusterSecretStore that issues leases.")
    path: str = Field(
        min_length=1,
        max_length=1024,
        description=(
            "Issuing path from the server's root, e.g. database/creds/app; the store must list "
            "it in its `dynamicPaths`."
        ),
        json_schema_extra={"x-kubernetes-validations": [*PATH_RULES, *RESERVED_ROOT_RULES]},
    )
    prefix: str = Field(
        default="",
        max_length=128,
        pattern=r"^[-._a-zA-Z0-9]*$",
        description="Prepended to each field of the lease (username, password...) to make a key.",
    )
    renew_at_percent: int = Field(
        default=50,
        ge=10,
        le=90,
        description="Renew when this share of the lease's TTL has passed.",
    )
    revoke_grace: str = Field(
        default="30s",
        max_length=32,
        pattern=DURATION_PATTERN,
        json_schema_extra={"x-kubernetes-validations": REVOKE_GRACE_RULES},
        description=(
            "How long replaced credentials stay valid after the new ones are written, "
            "so consumers can switch (Go duration, at most 1h)."
        ),
    )
    revoke_on_delete: bool = Field(
        default=True,
        description="Revoke the lease when the SecretSync (or this entry) is deleted.",
    )

    _path = field_validator("path")(_no_dot_segments)

    @field_validator("path")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        root = reserved_root(clean_path(value))
        if root is not None:
            raise ValueError(f"path must not start with {root}/ (the store's own identity)")
        return value

    @field_validator("revoke_grace")
    @classmethod
    def _bounded_grace(cls, value: str) -> str:
        if duration_seconds(value) > 3600.0:
            raise ValueError("revokeGrace must be at most 1h")
        return value

    def describe(self) -> str:
        return f"{self.store.describe()}:{self.path}#lease"


MAX_TEMPLATE_LENGTH = 8192


class TemplateEntry(Model):
    """A key whose value is rendered from this SecretSync's other values (issue 14)."""

    key: SecretKey = Field(description="Key written in the target Secret.")
    template: str = Field(
        min_length=1,
        max_length=MAX_TEMPLATE_LENGTH,
        description=(
            "A Jinja2 template over this SecretSync's own values only, each read as "
            "`data.<key>` or `data['<key>']` (a key of spec.data or a dataFrom property, "
            "named literally). Filters: default, lower, upper, trim, length, string, "
            "tojson, b64encode, urlquote. No loops, macros, variables, includes or "
            "method calls: a template cannot reach anything but its inputs."
        ),
    )


RESTART_ON_CHANGE_ANNOTATION = "secretloom.io/restart-on-change"
DEBOUNCE_RULES: list[JsonValue] = [
    {
        "rule": "duration(self) >= duration('1s') && duration(self) <= duration('1h')",
        "message": "debounce must be between 1s and 1h",
    }
]


class RolloutTarget(Model):
    kind: Literal["Deployment", "StatefulSet", "DaemonSet", "Rollout"] = Field(
        description="Kind of the workload: apps/v1, or an Argo Rollouts `Rollout` "
        "(argoproj.io/v1alpha1) where Argo Rollouts is installed."
    )
    name: ObjectName = Field(description="Name of the workload, in the SecretSync's namespace.")


class Rollout(Model):
    """Restart workloads when the values this SecretSync writes change (issue 14)."""

    restart: list[RolloutTarget] = Field(
        default_factory=list,
        max_length=8,
        description=(
            "Workloads whose pod template gets the annotation "
            "`rollout.secretloom.io/<SecretSync name>` on every effective change of the "
            "written values (the author must be allowed to patch them). Workloads of the "
            f"namespace annotated `{RESTART_ON_CHANGE_ANNOTATION}: <target>[,<target>...]` "
            "are restarted too."
        ),
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["kind", "name"],
        },
    )
    debounce: str = Field(
        default="10s",
        max_length=32,
        pattern=DURATION_PATTERN,
        json_schema_extra={"x-kubernetes-validations": DEBOUNCE_RULES},
        description=(
            "Quiet time after the last change before restarting: a burst of changes "
            "restarts once (Go duration, 1s to 1h)."
        ),
    )

    @field_validator("debounce")
    @classmethod
    def _bounded_debounce(cls, value: str) -> str:
        if not 1.0 <= duration_seconds(value) <= 3600.0:
            raise ValueError("debounce must be between 1s and 1h")
        return value

    def debounce_seconds(self) -> float:
        return duration_seconds(self.debounce)


SPEC_RULES: list[JsonValue] = [
    {
        "rule": "(has(self.data) && size(self.data) > 0)"
        " || (has(self.dataFrom) && size(self.dataFrom) > 0)"
        " || (has(self.dynamic) && size(self.dynamic) > 0)",
        "message": "spec.data, spec.dataFrom or spec.dynamic needs at least one entry",
    },
    {
        "rule": "!has(self.templates) || !has(self.data)"
        " || self.templates.all(t, !self.data.exists(d, d.key == t.key))",
        "message": "a key of spec.templates must not also be a key of spec.data",
    },
]


class SecretSyncSpec(Model):
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": SPEC_RULES})

    target: Target = Field(description="The Secret this SecretSync writes its keys into.")
    data: list[DataEntry] = Field(
        default_factory=list,
        max_length=256,
        description="Keys this SecretSync owns in the target, each with its source.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["key"],
        },
    )
    data_from: list[DataFromEntry] = Field(
        default_factory=list,
        max_length=16,
        description=(
            "Store paths whose every property becomes a key (`prefix` + property). "
            "Keys named in `data` win; then earlier entries win over later ones."
        ),
    )
    dynamic: list[DynamicEntry] = Field(
        default_factory=list,
        max_length=4,
        description=(
            "Credentials issued under a lease (database, AWS, PKI engines): renewed, "
            "replaced before their max TTL, the old ones revoked after a grace period. "
            "Keys named in `data` win over them."
        ),
    )
    templates: list[TemplateEntry] = Field(
        default_factory=list,
        max_length=32,
        description=(
            "Keys rendered from the values of spec.data and spec.dataFrom (e.g. a DSN, "
            "a config file, a .dockerconfigjson); they win over dataFrom keys of the "
            "same name."
        ),
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["key"],
        },
    )
    rollout: Rollout | None = Field(
        default=None,
        description=(
            "Restart workloads when the written values change: once per change, debounced, "
            "never on a refresh that changed nothing."
        ),
    )
    refresh_interval: str = Field(
        default="1h",
        max_length=32,
        pattern=DURATION_PATTERN,
        json_schema_extra={"x-kubernetes-validations": REFRESH_RULES},
        description=(
            "How often store values are read again (Go duration, e.g. 1h, 15m, 30s; "
            '"0": only when the spec or the refresh annotation changes). Each refresh is '
            "jittered. Kubernetes sources are watched and never polled."
        ),
    )

    @field_validator("refresh_interval")
    @classmethod
    def _bounded_refresh(cls, value: str) -> str:
        seconds = duration_seconds(value)
        if seconds and not MIN_REFRESH_SECONDS <= seconds <= MAX_REFRESH_SECONDS:
            raise ValueError('refreshInterval must be "0" (never poll) or between 1s and 8760h')
        return value

    @model_validator(mode="after")
    def _has_entries(self) -> SecretSyncSpec:
        if not self.data and not self.data_from and not self.dynamic:
            raise ValueError("spec.data, spec.dataFrom or spec.dynamic needs at least one entry")
        if {t.key for t in self.templates} & {e.key for e in self.data}:
            raise ValueError("a key of spec.templates must not also be a key of spec.data")
        return self

    def refresh_seconds(self) -> float:
        return duration_seconds(self.refresh_interval)

    def source_summary(self, limit: int = 80) -> str:
        """Where the keys come from, for kubectl: `secret/a`, `3 secrets, secretstore/vault`."""
        secrets = sorted({e.from_.secret for e in self.data if e.from_.secret})
        stores = {e.from_.store.describe() for e in self.data if e.from_.store is not None}
        stores |= {e.store.describe() for e in self.data_from}
        stores |= {e.store.describe() for e in self.dynamic}
        parts = [f"secret/{secrets[0]}"] if len(secrets) == 1 else []
        if len(secrets) > 1:
            parts.append(f"{len(secrets)} secrets")
        parts += sorted(stores)
        sealed = sum(1 for e in self.data if e.from_.sealed is not None)
        if sealed:
            parts.append(f"{sealed} sealed")
        summary = ", ".join(parts)
        if len(summary) <= limit:
            return summary
        return summary[: limit - 1].rsplit(", ", 1)[0] + ", …"

    def uses_stores(self) -> bool:
        return bool(self.data_from) or any(e.from_.store is not None for e in self.data)


KeyState = Literal["Synced", "SourceMissing", "ProviderError", "Conflict", "Error"]


class KeyStatus(Model):
    key: str = Field(description="Key owned in the target.")
    source: str = Field(description="Where it came from, e.g. secret/name#key.")
    source_version: str = Field(
        default="",
        description="Hash of the source's version (resourceVersion, store version); never a value.",
    )
    state: KeyState = Field(default="Synced", description="State of this entry.")
    message: str = Field(
        default="", description="Why the entry is not Synced (never a value); empty when Synced."
    )


class DataFromStatus(Model):
    source: str = Field(description="The store path read, e.g. secretstore/vault:app#*.")
    state: Literal["Synced", "SourceMissing", "ProviderError", "Error"] = Field(
        description="State of the last read of this path."
    )
    key_count: int = Field(default=0, description="Keys this entry contributes.")
    message: str = Field(default="", description="Why it is not Synced (never a value).")


class RolloutStatus(Model):
    """Restarts as a pair of change times: pending while they differ (never a value)."""

    pending_since: str = Field(
        default="",
        description=(
            "When the written values last began to change (RFC 3339, microseconds); a "
            "restart is pending while it differs from `restarted`."
        ),
    )
    restarted: str = Field(
        default="",
        description="The pendingSince the workloads were last restarted for.",
    )
    restart_time: str = Field(default="", description="When that restart was made.")
    problems: list[str] = Field(
        default_factory=list,
        description="Workloads of the last restart that could not be restarted, and why.",
    )

    @property
    def pending(self) -> bool:
        return bool(self.pending_since) and self.pending_since != self.restarted


class LeaseStatus(Model):
    source: str = Field(description="The dynamic entry, e.g. secretstore/vault:database/creds/app.")
    fingerprint: str = Field(description="A SHA-256 prefix of the lease id (never the id).")
    ttl_seconds: int = Field(default=0, description="The TTL the lease was issued with.")
    renew_time: str = Field(default="", description="When the lease is renewed next (RFC 3339).")
    expire_time: str = Field(default="", description="When the lease ends unless renewed.")


class SecretSyncStatus(Model):
    observed_generation: int = Field(default=0, description="Last generation reconciled.")
    field_manager: str = Field(default="", description="Field manager this SecretSync writes as.")
    key_count: int = Field(default=0, description="Number of keys owned in the target.")
    sources: str = Field(
        default="",
        description="Where the keys come from, e.g. `secret/a` or `3 secrets, secretstore/vault`.",
    )
    keys: list[KeyStatus] = Field(
        default_factory=list,
        description="Owned keys with a hash of each source version (never a value).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["key"]},
    )
    data_from: list[DataFromStatus] = Field(
        default_factory=list, description="One entry per spec.dataFrom entry, in order."
    )
    last_refresh_time: str = Field(
        default="", description="RFC 3339 time store values were last read (store syncs only)."
    )
    next_refresh_time: str = Field(
        default="", description="RFC 3339 time store values will be read again."
    )
    refresh_request: str = Field(
        default="",
        description=f"Hash of the last `{REFRESH_ANNOTATION}` annotation value acted upon.",
    )
    leases: list[LeaseStatus] = Field(
        default_factory=list,
        exclude_if=lambda value: not value,  # absent without spec.dynamic
        description="The lease each spec.dynamic entry holds (fingerprints, never ids).",
    )
    rollout: RolloutStatus | None = Field(
        default=None,
        exclude_if=lambda value: value is None,  # absent, not null, like every unset field
        description="Workload restarts (with spec.rollout).",
    )
    conditions: list[Condition] = conditions_field(
        "Ready, Conflict, Contested, SourceMissing, TargetMissing, and ProviderError "
        "for SecretSyncs that read stores."
    )
