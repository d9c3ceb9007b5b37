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
"""

from __future__ import annotations

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


def data_keys_by_manager(obj: Obj) -> dict[str, set[str]]:
    """Field manager -> the `data` keys it owns, from `metadata.managedFields`."""
    owners: dict[str, set[str]] = {}
    for entry in meta_of(obj).get("managedFields") or []:
        data = (entry.get("fieldsV1") or {}).get("f:data") or {}
        keys = owners.setdefault(entry.get("manager", ""), set())
        keys.update(k.removeprefix("f:") for k in data if k.startswith("f:"))
    return owners
