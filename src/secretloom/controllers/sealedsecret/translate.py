"""A SealedSecret as the SecretSync that writes it, and its status from that SecretSync.

Pure functions, so the mapping is unit-tested without a cluster. The
SecretSync has the SealedSecret's name (so its field manager,
`secretloom/<namespace>/<name>`, names the SealedSecret in managedFields),
its target, one `from.sealed` entry per encrypted key, and a controller
ownerReference: deleting the SealedSecret deletes the SecretSync, whose
finalizer releases the keys as its deletionPolicy says. Nothing here sees a
plaintext: ciphertexts are copied, and opened only by the SecretSync's reads.

The SecretSync's owner label (`Owner.label`) says which kind owns it, so its
events enqueue the right SealedSecret controller. Its value was the
SealedSecret's name; a name may be 253 characters and a label value only 63,
so a longer name had its SecretSync refused (422) and never got a status.
The value is now `owner_label_value(name)`: the name when it is a valid label
value, else a readable prefix and a hash of the whole name (as
`secretsync.naming` does for field managers). The value is never a name to
look the SealedSecret up by: readers use `owner_key`, which gives its key
(the SecretSync has the SealedSecret's name) when the label matches.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from secretloom.api import sealedsecret as api
from secretloom.api import secretsync
from secretloom.api.conditions import Condition
from secretloom.runtime.informer import Key
from secretloom.runtime.kube import Obj
from secretloom.seal import CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION

OWNED_BY_LABEL = "secretloom.io/sealed-secret"
BITNAMI_OWNED_BY_LABEL = "secretloom.io/bitnami-sealed-secret"
BITNAMI_PATCH_ANNOTATION = "sealedsecrets.bitnami.com/patch"
LABEL_VALUE_LIMIT = 63
_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?")


@dataclass(frozen=True)
class Owner:
    """Which SealedSecret kind owns a SecretSync: its API, the label, its Ready's name."""

    api_version: str
    kind: str
    label: str
    ready_type: str


SECRETLOOM = Owner(f"{secretsync.GROUP}/{secretsync.VERSION}", api.KIND, OWNED_BY_LABEL, "Ready")
# Bitnami's own tools (Argo CD's health check among them) read a `Synced` condition.
BITNAMI = Owner("bitnami.com/v1alpha1", api.KIND, BITNAMI_OWNED_BY_LABEL, "Synced")


def bitnami_spec(obj: Obj) -> api.SealedSecretSpec:
    """A `bitnami.com/v1alpha1` SealedSecret as secretloom's spec (ValueError if it has none).

    Scope from the SealedSecret's own annotations, as Bitnami reads it; the
    target is the Secret of its own name, owned whole (Owner) unless the
    template asks for `sealedsecrets.bitnami.com/patch` (then Merge). The
    template's labels, annotations and `data` templates are not rendered, and
    the pre-v0.7 single-blob `spec.data` is refused.
    """
    meta, spec = obj["metadata"], obj.get("spec") or {}
    if spec.get("data"):
        raise ValueError("spec.data (the pre-v0.7 single sealed blob) is not supported")
    annotations = meta.get("annotations") or {}
    scope = (
        "cluster-wide"
        if annotations.get(CLUSTER_WIDE_ANNOTATION) == "true"
        else "namespace-wide"
        if annotations.get(NAMESPACE_WIDE_ANNOTATION) == "true"
        else "strict"
    )
    template = spec.get("template") or {}
    patch = ((template.get("metadata") or {}).get("annotations") or {}).get(
        BITNAMI_PATCH_ANNOTATION
    ) == "true"
    target = {
        "name": meta["name"],
        "creationPolicy": "Merge" if patch else "Owner",
        "type": template.get("type") or "Opaque",
    }
    return api.SealedSecretSpec.model_validate(
        {"target": target, "scope": scope, "encryptedData": spec.get("encryptedData") or {}}
    )


def owner_reference(obj: Obj, owner: Owner = SECRETLOOM) -> Obj:
    meta = obj["metadata"]
    return {
        "apiVersion": owner.api_version,
        "kind": owner.kind,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owner_label_value(name: str) -> str:
    """The owner label's value on the SecretSync of the SealedSecret `name` (see above).

    Stable across restarts and replicas; a 64-bit hash, so two names in one
    namespace share a value only by a deliberate collision."""
    if len(name) <= LABEL_VALUE_LIMIT and _LABEL_VALUE.fullmatch(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{name[: LABEL_VALUE_LIMIT - len(digest) - 1]}-{digest}"


def owner_key(sync: Obj, owner: Owner = SECRETLOOM) -> Key | None:
    """The SealedSecret of `owner`'s kind whose SecretSync `sync` is (None: not one).

    A SealedSecret's SecretSync has its name, and the owner label that name's
    `owner_label_value`."""
    meta = sync["metadata"]
    labels = meta.get("labels") or {}
    if owner.label not in labels or labels[owner.label] != owner_label_value(meta["name"]):
        return None
    return meta["namespace"], meta["name"]


def owned_by(sync: Obj, sealed: Obj) -> bool:
    refs = sync["metadata"].get("ownerReferences") or []
    return any(r.get("uid") == sealed["metadata"]["uid"] and r.get("controller") for r in refs)


def desired_sync(obj: Obj, spec: api.SealedSecretSpec, owner: Owner = SECRETLOOM) -> Obj:
    """The SecretSync (server-side apply body) that writes this SealedSecret's values."""
    meta = obj["metadata"]
    return {
        "apiVersion": f"{secretsync.GROUP}/{secretsync.VERSION}",
        "kind": secretsync.KIND,
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": {owner.label: owner_label_value(meta["name"])},
            "ownerReferences": [owner_reference(obj, owner)],
        },
        "spec": {
            "target": spec.target.model_dump(by_alias=True, mode="json"),
            "data": [
                {"key": key, "from": {"sealed": {"value": value, "scope": spec.scope}}}
                for key, value in sorted(spec.encrypted_data.items())
            ],
            "refreshInterval": "0",
        },
    }


def status(
    generation: int,
    sync: Obj | None,
    problem: tuple[str, str] | None,
    ready_type: str = "Ready",
) -> api.SealedSecretStatus:
    """Ready from `problem` (reason, message) if any, else mirrored from the SecretSync;
    named `ready_type` (Bitnami's kind calls it Synced)."""
    if problem is not None:
        reason, message = problem
        ready = Condition(
            type=ready_type,
            status="False",
            reason=reason,
            message=message,
            observed_generation=generation,
        )
        return api.SealedSecretStatus(observed_generation=generation, conditions=[ready])
    name = sync["metadata"]["name"] if sync is not None else ""
    mirrored = [
        Condition.model_validate(c)
        for c in ((sync or {}).get("status") or {}).get("conditions") or []
        if c.get("type") == "Ready"
        and c.get("observedGeneration") == (sync or {}).get("metadata", {}).get("generation")
    ]
    ready = (
        mirrored[0].model_copy(update={"observed_generation": generation, "type": ready_type})
        if mirrored
        else Condition(
            type=ready_type,
            status="False",
            reason="Pending",
            message=f"waiting for SecretSync {name!r} to report",
            observed_generation=generation,
        )
    )
    return api.SealedSecretStatus(
        observed_generation=generation, secret_sync=name, conditions=[ready]
    )
