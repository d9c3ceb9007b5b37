"""SecretSync: one writer's keys in one target Secret.

A SecretSync declares which keys it contributes to a target Secret and where
each value comes from. It owns exactly those keys through server-side apply
field ownership; other writers (Helm, other SecretSyncs, Argo CD) own theirs.
The schema is strict so that mistakes are refused at admission with the field
named: key syntax, unique keys (a list-map keyed by `key`), exactly one source
per entry, target Secret types from an allow-list (never a service-account
token; see ESO CVE-2026-42876).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, JsonValue

from secretloom.api.base import Model
from secretloom.api.conditions import Condition

GROUP = "secretloom.io"
VERSION = "v1alpha1"
KIND = "SecretSync"
PLURAL = "secretsyncs"

SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"  # noqa: S105 (a pattern, not a password)
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

SecretKey = Annotated[str, Field(min_length=1, max_length=253, pattern=SECRET_KEY_PATTERN)]
ObjectName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]

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
            "ownerReference and is garbage-collected with the SecretSync."
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
    force: bool = Field(
        default=False,
        description=(
            "Take over keys another field manager owns. Without it a conflict is reported "
            "(condition Conflict) and nothing is written."
        ),
    )
    type: TargetType = Field(
        default="Opaque",
        description="Secret type used when this SecretSync creates the target.",
    )


class StoreRef(Model):
    name: ObjectName = Field(description="Name of the store.")
    kind: Literal["SecretStore", "ClusterSecretStore"] = Field(
        default="SecretStore", description="SecretStore (same namespace) or ClusterSecretStore."
    )


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
        default=None, min_length=1, description="Path in the store (e.g. Vault: mount-relative)."
    )
    property: str | None = Field(default=None, description="Property of the path's data.")
    version: int | None = Field(
        default=None, ge=1, description="Pinned version (Vault KV v2 only)."
    )


SOURCE_RULES: list[JsonValue] = [
    {
        "rule": "has(self.secret) != has(self.store)",
        "message": "exactly one of from.secret or from.store must be set",
    },
    {"rule": "!has(self.secret) || has(self.key)", "message": "from.secret needs from.key"},
    {
        "rule": "!has(self.store) || (has(self.path) && has(self.property))",
        "message": "from.store needs from.path and from.property",
    },
]


class DataEntry(Model):
    key: SecretKey = Field(description="Key written in the target Secret.")
    from_: Source = Field(
        alias="from",
        description="Where the value comes from.",
        json_schema_extra={"x-kubernetes-validations": SOURCE_RULES},
    )


class SecretSyncSpec(Model):
    target: Target = Field(description="The Secret this SecretSync writes its keys into.")
    data: list[DataEntry] = Field(
        min_length=1,
        max_length=256,
        description="Keys this SecretSync owns in the target, each with its source.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["key"],
        },
    )


class KeyStatus(Model):
    key: str = Field(description="Key owned in the target.")
    source: str = Field(description="Where it came from, e.g. secret/name#key.")
    source_version: str = Field(
        default="",
        description="Hash of the source's version (resourceVersion, store version); never a value.",
    )
    state: Literal["Synced", "SourceMissing", "Conflict", "Error"] = Field(
        default="Synced", description="State of this entry."
    )


class SecretSyncStatus(Model):
    observed_generation: int = Field(default=0, description="Last generation reconciled.")
    field_manager: str = Field(default="", description="Field manager this SecretSync writes as.")
    key_count: int = Field(default=0, description="Number of keys owned in the target.")
    keys: list[KeyStatus] = Field(
        default_factory=list,
        description="Owned keys with a hash of each source version (never a value).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["key"]},
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Conflict, Contested, SourceMissing, TargetMissing.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
