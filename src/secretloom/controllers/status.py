"""Writing a resource's status: only when it changed, keeping condition transition times.

Both reconcilers report the same way: the status is computed whole, each
condition keeps its `lastTransitionTime` unless its status flipped, and
nothing is sent when the result equals what the object already holds (zero
writes at rest). The answer goes back into the informer cache, so the next
reconcile compares with what it just wrote rather than rewriting it.

Fields that are not set are absent (see `secretloom.api.base`). The write is a
JSON merge patch, in which an absent field means "leave it": so a top-level
field the object holds and the new status does not is sent as `null`, which
removes it. Lists (keys, conditions) are replaced whole by a merge patch.
An `""` in a status written by an older version counts as absent when
comparing, so upgrading does not rewrite every status at once; the next
write for any other reason drops it.
"""

from __future__ import annotations

from typing import Any

from secretloom.api import kubetime
from secretloom.api.base import Model
from secretloom.api.conditions import merge
from secretloom.runtime.cache import Cache
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.meta import strip_managed_fields


def status_body(obj: Obj, status: Model) -> Obj:
    """`status` as it would be written onto `obj`: conditions keep their transition times."""
    current = obj.get("status") or {}
    body = status.model_dump(by_alias=True, mode="json")
    body["conditions"] = merge(
        current.get("conditions") or [], body.get("conditions") or [], timestamp=kubetime.now()
    )
    return body


def _set(value: Any) -> Any:
    """`value` without the empty strings an older version wrote for unset fields."""
    if isinstance(value, dict):
        return {k: _set(v) for k, v in value.items() if v != ""}
    if isinstance(value, list):
        return [_set(v) for v in value]
    return value


def _same(body: Obj, current: Obj) -> bool:
    return body == current or _set(body) == _set(current)


def pending(obj: Obj, status: Model) -> Obj | None:
    """The status body to write onto `obj`; None when `obj` already holds it.

    Computed once per reconcile and handed to `write_body` (building the body
    twice cost the reconciler 7.6% of its CPU at 10,000 SecretSyncs, issue 17).
    """
    body = status_body(obj, status)
    return None if _same(body, obj.get("status") or {}) else body


async def write_status(
    client: KubeClient, cache: Cache, path: str, obj: Obj, status: Model
) -> None:
    """Merge-patch `status` onto `obj` at `path` (its status subresource) if it differs."""
    await write_body(client, cache, path, obj, pending(obj, status))


async def write_body(
    client: KubeClient, cache: Cache, path: str, obj: Obj, body: Obj | None
) -> None:
    """Merge-patch a body from `pending` onto `obj` at `path` (None: nothing to write)."""
    if body is None:
        return
    current = obj.get("status") or {}
    patch = {**{k: None for k in current if k not in body}, **body}
    try:
        updated = await client.merge_patch(path, {"status": patch})
    except ApiError as err:
        if err.status == 404:
            return  # deleted meanwhile
        raise
    cache.put(strip_managed_fields(updated))
