"""The cache indexes of SecretSyncs: by field manager, and by target.

`FIELD_MANAGERS` answers "which SecretSync writes as this field manager?" for
the conflict rules: a 409 names managers, and only a manager that belongs to
an existing SecretSync counts as one. Any writer can call itself
`secretloom/<namespace>/<name>`; a name proves nothing, the index does.
`TARGETS` counts the writers of a target, which decides whether it is
aggregated (issue 17).
"""

from __future__ import annotations

from secretloom.controllers.secretsync.naming import field_manager
from secretloom.runtime.kube import Obj
from secretloom.runtime.meta import meta_of

FIELD_MANAGERS = "field-manager"


def manager_index(obj: Obj) -> list[str]:
    """Index: the field manager a SecretSync writes its target keys as."""
    meta = meta_of(obj)
    return [field_manager(meta.get("namespace", ""), meta["name"])]


TARGETS = "target"


def target_index(obj: Obj) -> list[str]:
    """Index: the target Secret a SecretSync writes (same namespace), to count its writers."""
    name = ((obj.get("spec") or {}).get("target") or {}).get("name")
    return [name] if isinstance(name, str) and name else []


def aggregatable(obj: Obj) -> bool:
    """May this SecretSync write through its target's aggregated manager (`aggregate.py`)?

    Not with `creationPolicy: Owner` (its ownerReference is its own) nor with
    dynamic entries (their lease annotations are): those keep their own manager.
    """
    spec = obj.get("spec") or {}
    return (spec.get("target") or {}).get("creationPolicy") != "Owner" and not spec.get("dynamic")
