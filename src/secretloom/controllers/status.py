"""Writing a resource's status: only when it changed, keeping condition transition times.

Both reconcilers report the same way: the status is computed whole, each
condition keeps its `lastTransitionTime` unless its status flipped, and
nothing is sent when the result equals what the object already holds (zero
writes at rest). The answer goes back into the informer cache, so the next
reconcile compares against what it just wrote rather than rewriting it.
"""

from __future__ import annotations

from secretloom.api.base import Model
from secretloom.api.conditions import Condition, merge, now
from secretloom.runtime.cache import Cache
from secretloom.runtime.kube import ApiError, KubeClient, Obj


def status_body(obj: Obj, status: Model) -> Obj:
    """`status` as it would be written onto `obj`: conditions keep their transition times."""
    current = obj.get("status") or {}
    body = status.model_dump(by_alias=True, mode="json")
    merged = merge(
        [Condition.model_validate(c) for c in current.get("conditions") or []],
        [Condition.model_validate(c) for c in body.get("conditions") or []],
        timestamp=now(),
    )
    body["conditions"] = [c.model_dump(by_alias=True, mode="json") for c in merged]
    return body


def unchanged(obj: Obj, status: Model) -> bool:
    return status_body(obj, status) == (obj.get("status") or {})


async def write_status(
    client: KubeClient, cache: Cache, path: str, obj: Obj, status: Model
) -> None:
    """Merge-patch `status` onto `obj` at `path` (its status subresource) if it differs."""
    body = status_body(obj, status)
    if body == (obj.get("status") or {}):
        return
    try:
        updated = await client.merge_patch(path, {"status": body})
    except ApiError as err:
        if err.status == 404:
            return  # deleted meanwhile
        raise
    updated.get("metadata", {}).pop("managedFields", None)
    cache.put(updated)
