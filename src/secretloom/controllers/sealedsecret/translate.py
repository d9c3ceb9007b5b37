"""A SealedSecret as the SecretSync that writes it, and its status from that SecretSync.

Pure functions, so the mapping is unit-tested without a cluster. The
SecretSync has the SealedSecret's name (so its field manager,
`secretloom/<namespace>/<name>`, names the SealedSecret in managedFields),
its target, one `from.sealed` entry per encrypted key, and a controller
ownerReference: deleting the SealedSecret deletes the SecretSync, whose
finalizer releases the keys as its deletionPolicy says. Nothing here sees a
plaintext: ciphertexts are copied, and opened only by the SecretSync's reads.
"""

from __future__ import annotations

from secretloom.api import sealedsecret as api
from secretloom.api import secretsync
from secretloom.api.conditions import Condition
from secretloom.runtime.kube import Obj

OWNED_BY_LABEL = "secretloom.io/sealed-secret"


def owner_reference(obj: Obj) -> Obj:
    meta = obj["metadata"]
    return {
        "apiVersion": f"{secretsync.GROUP}/{secretsync.VERSION}",
        "kind": api.KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(sync: Obj, sealed: Obj) -> bool:
    refs = sync["metadata"].get("ownerReferences") or []
    return any(r.get("uid") == sealed["metadata"]["uid"] and r.get("controller") for r in refs)


def desired_sync(obj: Obj, spec: api.SealedSecretSpec) -> Obj:
    """The SecretSync (server-side apply body) that writes this SealedSecret's values."""
    meta = obj["metadata"]
    return {
        "apiVersion": f"{secretsync.GROUP}/{secretsync.VERSION}",
        "kind": secretsync.KIND,
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": {OWNED_BY_LABEL: meta["name"]},
            "ownerReferences": [owner_reference(obj)],
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
    generation: int, sync: Obj | None, problem: tuple[str, str] | None
) -> api.SealedSecretStatus:
    """Ready from `problem` (reason, message) if any, else mirrored from the SecretSync."""
    if problem is not None:
        reason, message = problem
        ready = Condition(
            type="Ready",
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
        mirrored[0].model_copy(update={"observed_generation": generation})
        if mirrored
        else Condition(
            type="Ready",
            status="False",
            reason="Pending",
            message=f"waiting for SecretSync {name!r} to report",
            observed_generation=generation,
        )
    )
    return api.SealedSecretStatus(
        observed_generation=generation, secret_sync=name, conditions=[ready]
    )
