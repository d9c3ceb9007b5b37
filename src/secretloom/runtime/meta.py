"""Object metadata as typed dicts, and the two things done with `managedFields`.

Objects travel as raw JSON dicts (`kube.Obj`: a typed model costs a parse per
watch event), but their `metadata` has one well-known shape; `ObjectMeta` and
`ManagedFieldsEntry` give it to mypy where code reads it, at no cost at run
time (issue 11: metadata was `dict[str, Any]` everywhere). Only the fields
secretloom reads are listed; the API server may send more.

`managedFields` is read for one thing, which data keys each field manager owns
(`data_keys_by_manager`: the ownership rules, the demo, the example, the
tests), and otherwise dropped on ingest (`strip_managed_fields`: it is often
larger than the object).

A target written in aggregated mode (issue 17: many SecretSyncs into one
Secret) has one field manager for all its SecretSyncs' keys; which SecretSync
owns each of those keys is recorded beside them, in the annotation
`secretloom.io/owners` written by the same apply (`recorded_owners`,
`data_keys_by_writer`), so ownership stays answerable with kubectl alone.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypedDict

from secretloom.runtime.kube import Obj


class ManagedFieldsEntry(TypedDict, total=False):
    """One writer's record in `metadata.managedFields` (server-side apply)."""

    manager: str
    operation: str  # Apply or Update
    apiVersion: str
    time: str
    fieldsType: str  # FieldsV1
    fieldsV1: dict[str, Any]  # {"f:data": {"f:key": {}}, ...}
    subresource: str


class ObjectMeta(TypedDict, total=False):
    """`metadata` of any object, as far as secretloom reads it."""

    name: str
    namespace: str
    uid: str
    resourceVersion: str
    generation: int
    creationTimestamp: str
    deletionTimestamp: str
    labels: dict[str, str]
    annotations: dict[str, str]
    finalizers: list[str]
    ownerReferences: list[dict[str, Any]]
    managedFields: list[ManagedFieldsEntry]


def meta_of(obj: Obj) -> ObjectMeta:
    """An object's metadata, typed."""
    meta: ObjectMeta = obj["metadata"]
    return meta


def strip_managed_fields(obj: Obj) -> Obj:
    """The object without `metadata.managedFields` (in place; returned for chaining)."""
    meta: ObjectMeta = obj.get("metadata", {})
    meta.pop("managedFields", None)
    return obj


# Strings this long or shorter are interned on ingest: names, reasons, times, versions.
_INTERNED_LENGTH = 64
# Maps whose values are Secret values: never interned (an interned string is shared).
_VALUE_MAPS = frozenset({"data", "stringData", "binaryData"})


def compact(obj: Obj) -> Obj:
    """`obj` rebuilt with its keys and short strings interned, to hold it in a cache.

    Why (issue 17, 10,000 SecretSyncs): `json.loads` makes a new string for
    every key of every object, so ten thousand cached SecretSyncs hold ten
    thousand copies of "lastTransitionTime", "observedGeneration" and each
    condition's reason. Interning them halves a cached SecretSync (7.9 -> 3.9
    KB measured with tracemalloc). Values of `data`/`stringData` are copied as
    they are, never interned.
    """
    compacted: Obj = _compact(obj)
    return compacted


def _compact(value: Any, *, values: bool = False) -> Any:
    if isinstance(value, dict):
        return {
            sys.intern(k): _compact(v, values=k in _VALUE_MAPS) if not values else v
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_compact(v) for v in value]
    if isinstance(value, str) and len(value) <= _INTERNED_LENGTH:
        return sys.intern(value)
    return value


def for_cache(obj: Obj) -> Obj:
    """The default ingest transform of every informer: no managedFields, interned strings."""
    return compact(strip_managed_fields(obj))


def data_keys_by_manager(obj: Obj) -> dict[str, set[str]]:
    """Field manager -> the `data` keys it owns, from `metadata.managedFields`."""
    owners: dict[str, set[str]] = {}
    for entry in meta_of(obj).get("managedFields") or []:
        data = (entry.get("fieldsV1") or {}).get("f:data") or {}
        keys = owners.setdefault(entry.get("manager", ""), set())
        keys.update(k.removeprefix("f:") for k in data if k.startswith("f:"))
    return owners


OWNERS_ANNOTATION = "secretloom.io/owners"
# The field manager of an aggregated target: `secretloom-target/<namespace>/<secret>`.
AGGREGATE_MANAGER_PREFIX = "secretloom-target/"


def recorded_owners(obj: Obj | None) -> dict[str, str]:
    """Data key -> the SecretSync (same namespace) owning it, from the owners annotation.

    Empty when there is none or it is not a JSON object of strings: the record
    is informative and rewritten by the next aggregated apply, never trusted to
    name anything outside the object's own namespace.
    """
    annotations = (meta_of(obj).get("annotations") or {}) if obj else {}
    raw = annotations.get(OWNERS_ANNOTATION)
    if not raw:
        return {}
    try:
        record = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(record, dict):
        return {}
    return {k: v for k, v in record.items() if isinstance(k, str) and isinstance(v, str)}


def format_owners(record: dict[str, str]) -> str:
    """The owners annotation's value: compact, keys sorted (equal records, equal strings)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def data_keys_by_writer(obj: Obj, writer_of: Callable[[str, str], str]) -> dict[str, set[str]]:
    """Like `data_keys_by_manager`, with an aggregated manager's keys given to their SecretSyncs.

    `writer_of(namespace, name)` names a SecretSync's writer (its per-SecretSync
    field manager), so both write modes read the same.
    """
    owners = data_keys_by_manager(obj)
    record = recorded_owners(obj)
    namespace = meta_of(obj).get("namespace", "")
    for manager in [m for m in owners if m.startswith(AGGREGATE_MANAGER_PREFIX)]:
        for key in owners.pop(manager):
            sync = record.get(key)
            writer = writer_of(namespace, sync) if sync else manager
            owners.setdefault(writer, set()).add(key)
    return owners
