"""CustomResourceDefinitions generated from the pydantic models.

The models are the single source of truth; `deploy/crds/` is their generated,
committed image, and a test fails when the two drift. Pydantic emits JSON
Schema; a CRD needs a *structural* OpenAPI v3 schema, so the conversion
inlines `$ref`s, turns `Optional[X]` (anyOf with null) into a non-required X,
drops titles and `additionalProperties: false` (not structural), and keeps
descriptions, defaults, patterns, bounds, enums and `x-kubernetes-*` markers
(list-maps, CEL rules) that the models carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from secretloom.api import sealedsecret, secretsync, stores
from secretloom.api.base import Model

Schema = dict[str, Any]


@dataclass(frozen=True)
class CustomResource:
    group: str
    version: str
    kind: str
    plural: str
    description: str
    spec: type[Model]
    status: type[Model]
    scope: str = "Namespaced"
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ("secretloom",)
    printer_columns: tuple[dict[str, str], ...] = ()
    root_rules: tuple[dict[str, str], ...] = ()

    @property
    def name(self) -> str:
        return f"{self.plural}.{self.group}"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


_READY_COLUMN = {
    "name": "Ready",
    "type": "string",
    "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
}
_AGE_COLUMN = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}

SECRET_SYNC = CustomResource(
    group=secretsync.GROUP,
    version=secretsync.VERSION,
    kind=secretsync.KIND,
    plural=secretsync.PLURAL,
    description="Contributes keys to a target Secret, each owned by its field manager.",
    spec=secretsync.SecretSyncSpec,
    status=secretsync.SecretSyncStatus,
    short_names=("ssync",),
    printer_columns=(
        _READY_COLUMN,
        {
            "name": "Reason",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
        },
        {"name": "Target", "type": "string", "jsonPath": ".spec.target.name"},
        {"name": "Keys", "type": "integer", "jsonPath": ".status.keyCount"},
        {"name": "Sources", "type": "string", "jsonPath": ".status.sources"},
        # Store syncs only: when store values were last read (empty for Secret sources).
        {"name": "Refreshed", "type": "date", "jsonPath": ".status.lastRefreshTime"},
        _AGE_COLUMN,
        {
            "name": "Message",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].message',
            "priority": "1",
        },
    ),
)

_PROVIDER_COLUMN = {
    "name": "Provider",
    "type": "string",
    "jsonPath": ".status.provider",
}
_REASON_COLUMN = {
    "name": "Reason",
    "type": "string",
    "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
}


def _store(
    kind: str, plural: str, spec: type[Model], scope: str, noun: str, short: str
) -> CustomResource:
    # Short names differ from External Secrets' (ss, css) so both can be installed.
    return CustomResource(
        group=secretsync.GROUP,
        version=secretsync.VERSION,
        kind=kind,
        plural=plural,
        description=f"A secret provider usable by the SecretSyncs of {noun}.",
        spec=spec,
        status=stores.StoreStatus,
        scope=scope,
        short_names=(short,),
        printer_columns=(_READY_COLUMN, _PROVIDER_COLUMN, _REASON_COLUMN, _AGE_COLUMN),
    )


SECRET_STORE = _store(
    stores.STORE_KIND,
    stores.STORE_PLURAL,
    stores.SecretStoreSpec,
    "Namespaced",
    "its namespace",
    "sstore",
)
CLUSTER_SECRET_STORE = _store(
    stores.CLUSTER_STORE_KIND,
    stores.CLUSTER_STORE_PLURAL,
    stores.ClusterSecretStoreSpec,
    "Cluster",
    "the namespaces it allows",
    "csstore",
)

SEALED_SECRET = CustomResource(
    group=secretsync.GROUP,
    version=secretsync.VERSION,
    kind=sealedsecret.KIND,
    plural=sealedsecret.PLURAL,
    description="Sealed values written into a target Secret through a SecretSync it owns.",
    spec=sealedsecret.SealedSecretSpec,
    status=sealedsecret.SealedSecretStatus,
    short_names=("slsecret",),
    printer_columns=(
        _READY_COLUMN,
        _REASON_COLUMN,
        {"name": "Target", "type": "string", "jsonPath": ".spec.target.name"},
        {"name": "Scope", "type": "string", "jsonPath": ".spec.scope"},
        _AGE_COLUMN,
    ),
)

RESOURCES: tuple[CustomResource, ...] = (
    SECRET_SYNC,
    SECRET_STORE,
    CLUSTER_SECRET_STORE,
    SEALED_SECRET,
)


def openapi_schema(model: type[Model]) -> Schema:
    """The structural OpenAPI v3 schema of `model`."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _structural(raw, raw.get("$defs", {}))


def _structural(node: Schema, defs: Schema) -> Schema:
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[1]]
        # A field's own description and markers win over the referenced model's.
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    options = node.get("anyOf")
    if options is not None:
        concrete = [o for o in options if o.get("type") != "null"]
        if len(concrete) != 1:
            raise ValueError(f"unsupported union in CRD schema: {options}")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        merged = {**concrete[0], **rest}
        if merged.get("default", 0) is None:
            del merged["default"]
        return _structural(merged, defs)
    out: Schema = {}
    for key, value in node.items():
        if key in ("title", "$defs") or (key == "additionalProperties" and value is False):
            continue
        if key == "properties":
            out[key] = {name: _structural(prop, defs) for name, prop in value.items()}
        elif key == "items":
            out[key] = _structural(value, defs)
        elif key == "const":
            out["enum"] = [value]
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if "required" in out:
        out["required"] = sorted(out["required"])
    return out


def definition(resource: CustomResource) -> Schema:
    """The CustomResourceDefinition object for `resource`."""
    root: Schema = {
        "type": "object",
        "description": resource.description,
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": openapi_schema(resource.spec),
            "status": openapi_schema(resource.status),
        },
        "required": ["spec"],
    }
    if resource.root_rules:
        root["x-kubernetes-validations"] = list(resource.root_rules)
    names: Schema = {
        "kind": resource.kind,
        "listKind": f"{resource.kind}List",
        "plural": resource.plural,
        "singular": resource.kind.lower(),
        "categories": list(resource.categories),
    }
    if resource.short_names:
        names["shortNames"] = list(resource.short_names)
    columns = [
        {**c, "priority": int(c["priority"])} if "priority" in c else dict(c)
        for c in resource.printer_columns
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": resource.name},
        "spec": {
            "group": resource.group,
            "names": names,
            "scope": resource.scope,
            "versions": [
                {
                    "name": resource.version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }
