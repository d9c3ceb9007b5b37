"""The cache index of SecretSyncs by field manager.

`FIELD_MANAGERS` answers "which SecretSync writes as this field manager?" for
the conflict rules: a 409 names managers, and only a manager that belongs to
an existing SecretSync counts as one. Any writer can call itself
`secretloom/<namespace>/<name>`; a name proves nothing, the index does.
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
