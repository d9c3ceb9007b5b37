"""What a conversion produces: manifests, and every field it could not carry over.

A converter never drops anything silently (issue 15): each field of a source
manifest either shapes an output manifest, or becomes one `Finding` naming the
source object, the field path and the reason. `unconverted` findings mean the
output does not behave as the source did (the exit code says so); `notes` are
faithful adaptations a reader should know about (a default made explicit, a
store assumed). Findings carry names, paths and kinds, never a value: a
Kyverno patch or an ExternalSecret template may hold a literal secret.

Every output manifest is checked against the secretloom models (`api/`), so
what `convert` prints is what admission would accept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from secretloom.api import secretsync, stores
from secretloom.api.invalid import first_problem

Obj = dict[str, Any]
API_VERSION = f"{secretsync.GROUP}/{secretsync.VERSION}"


@dataclass(frozen=True, slots=True)
class Finding:
    source: str  # e.g. "ExternalSecret team-a/app"
    field: str  # a path in the source manifest, e.g. "spec.data[0].remoteRef.decodingStrategy"
    reason: str

    def line(self) -> str:
        where = f" {self.field}" if self.field else ""
        return f"{self.source}{where}: {self.reason}"


@dataclass
class Conversion:
    manifests: list[Obj] = field(default_factory=list)
    unconverted: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    converted: list[str] = field(default_factory=list)  # source objects that produced output

    def extend(self, other: Conversion) -> None:
        self.manifests += other.manifests
        self.unconverted += other.unconverted
        self.notes += other.notes
        self.converted += other.converted


class Scope:
    """Findings about one source object, collected as its converter walks it."""

    def __init__(self, result: Conversion, source: str) -> None:
        self.result, self.source = result, source

    def refuse(self, path: str, reason: str) -> None:
        self.result.unconverted.append(Finding(self.source, path, reason))

    def note(self, path: str, reason: str) -> None:
        self.result.notes.append(Finding(self.source, path, reason))

    def emit(self, manifest: Obj) -> bool:
        """Add `manifest` if the secretloom models accept it; else a finding, and False."""
        problem = _invalid(manifest)
        if problem is not None:
            self.refuse("", f"the converted {manifest['kind']} would be refused: {problem}")
            return False
        self.result.manifests.append(manifest)
        if self.source not in self.result.converted:
            self.result.converted.append(self.source)
        return True


def extra(mapping: Obj, known: set[str]) -> list[str]:
    """Fields of `mapping` a converter does not handle, in order; empty or false ones aside.

    Manifests read back from a cluster carry defaulted fields (`[]`, `{}`,
    `false`, `""`): those change nothing and are not findings.
    """
    return sorted(
        k for k, v in mapping.items() if k not in known and v not in (None, "", [], {}, False)
    )


def describe(doc: Obj) -> str:
    meta = doc.get("metadata") or {}
    name = str(meta.get("name", "?"))
    namespace = meta.get("namespace")
    return (
        f"{doc.get('kind', '?')} {namespace}/{name}" if namespace else f"{doc.get('kind')} {name}"
    )


def manifest(kind: str, namespace: str | None, name: str, spec: Obj) -> Obj:
    metadata: Obj = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


_MODELS: dict[str, type[BaseModel]] = {
    secretsync.KIND: secretsync.SecretSyncSpec,
    stores.STORE_KIND: stores.SecretStoreSpec,
    stores.CLUSTER_STORE_KIND: stores.ClusterSecretStoreSpec,
}


def _invalid(doc: Obj) -> str | None:
    name = doc["metadata"]["name"]
    if len(name) > 253 or not re.fullmatch(secretsync.DNS_SUBDOMAIN_PATTERN, name):
        return f"name {name!r} is not a valid object name"
    try:
        _MODELS[doc["kind"]].model_validate(doc["spec"])
    except ValidationError as err:
        return first_problem(err)
    return None
