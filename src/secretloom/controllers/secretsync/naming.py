"""Field-manager names: one per SecretSync, so ownership in managedFields is per writer.

`secretloom/<namespace>/<name>` reads well in `kubectl get secret
--show-managed-fields`. The API server caps manager names at 128 characters;
longer ones become a readable prefix plus a hash of the full name, stable
across restarts and replicas (External Secrets does the same).
"""

from __future__ import annotations

import hashlib

PREFIX = "secretloom"
CONTROLLER_MANAGER = "secretloom-controller"  # finalizers and status on SecretSyncs
FINALIZER = "secretloom.io/cleanup"
MAX_LENGTH = 128


def field_manager(namespace: str, name: str, *, prefix: str = PREFIX) -> str:
    full = f"{prefix}/{namespace}/{name}"
    if len(full) <= MAX_LENGTH:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:16]
    return f"{full[: MAX_LENGTH - len(digest) - 1]}-{digest}"


def version_hash(*parts: str) -> str:
    """A short, non-reversible tag for a source version (never derived from a value)."""
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:16]
