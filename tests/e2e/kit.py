"""Helpers for end-to-end tests: real objects on the real API server, no fakes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from secretloom.api.crd import SECRET_SYNC
from secretloom.controllers.manager import Manager, Options
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.resources import EVENTS, SECRET_SYNCS, SECRETS


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def unb64(value: str) -> str:
    return base64.b64decode(value).decode()


async def put_secret(
    kube: KubeClient, namespace: str, name: str, data: dict[str, str], *, manager: str
) -> Obj:
    """Server-side apply a Secret as `manager` (e.g. helm, vault-secrets-operator)."""
    body: Obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
    }
    if data:  # an empty shell has no data field at all (owning `data: {}` would claim the map)
        body["data"] = {k: b64(v) for k, v in data.items()}
    return await kube.apply(SECRETS.path(namespace, name), body, field_manager=manager, force=True)


async def get_secret(kube: KubeClient, namespace: str, name: str) -> Obj | None:
    try:
        return await kube.get(SECRETS.path(namespace, name))
    except ApiError as err:
        if err.status == 404:
            return None
        raise


def values(secret: Obj | None) -> dict[str, str]:
    return {k: unb64(v) for k, v in ((secret or {}).get("data") or {}).items()}


def owners(secret: Obj) -> dict[str, set[str]]:
    """Field manager -> data keys it owns (every manager listed, even with no keys)."""
    result: dict[str, set[str]] = {}
    for entry in secret["metadata"].get("managedFields") or []:
        data = (entry.get("fieldsV1") or {}).get("f:data") or {}
        result.setdefault(entry["manager"], set()).update(k[2:] for k in data if k.startswith("f:"))
    return result


def sync_spec(target: str, entries: dict[str, tuple[str, str]], **target_opts: Any) -> Obj:
    return {
        "target": {"name": target, **target_opts},
        "data": [
            {"key": key, "from": {"secret": secret, "key": source_key}}
            for key, (secret, source_key) in entries.items()
        ],
    }


async def apply_sync(kube: KubeClient, namespace: str, name: str, spec: Obj) -> Obj:
    body = {
        "apiVersion": SECRET_SYNC.api_version,
        "kind": SECRET_SYNC.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    return await kube.apply(
        SECRET_SYNCS.path(namespace, name), body, field_manager="kubectl", force=True
    )


async def get_sync(kube: KubeClient, namespace: str, name: str) -> Obj:
    return await kube.get(SECRET_SYNCS.path(namespace, name))


def condition(sync: Obj, kind: str) -> Obj:
    for cond in (sync.get("status") or {}).get("conditions") or []:
        if cond["type"] == kind:
            return dict(cond)
    return {}


async def eventually(
    probe: Callable[[], Awaitable[bool]], *, timeout: float = 10.0, interval: float = 0.02
) -> float:
    """Poll until `probe()` is true; returns the seconds it took, fails on timeout."""
    start = time.monotonic()
    while True:
        if await probe():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def wait_condition(
    kube: KubeClient,
    namespace: str,
    name: str,
    kind: str,
    status: str = "True",
    timeout: float = 10.0,
    reason: str | None = None,
) -> Obj:
    """Until condition `kind` has `status` (and `reason`, if given) for the current generation."""
    found: Obj = {}

    async def probe() -> bool:
        nonlocal found
        found = await get_sync(kube, namespace, name)
        cond = condition(found, kind)
        generation = found["metadata"].get("generation")
        wanted = reason is None or cond.get("reason") == reason
        return (
            cond.get("status") == status and cond.get("observedGeneration") == generation and wanted
        )

    await eventually(probe, timeout=timeout)
    return found


async def wait_all_finalized(kube: KubeClient, namespace: str, timeout: float = 10.0) -> None:
    """Until every SecretSync in `namespace` is gone (its finalizer has run)."""

    async def gone() -> bool:
        items, _ = await kube.list(SECRET_SYNCS.path(namespace))
        return not items

    await eventually(gone, timeout=timeout)


async def events_for(kube: KubeClient, namespace: str, name: str) -> list[Obj]:
    items, _ = await kube.list(EVENTS.path(namespace))
    return [e for e in items if (e.get("regarding") or {}).get("name") == name]


class TargetWatch:
    """Counts the writes a target Secret receives, from the API server's own watch stream."""

    def __init__(self, kube: KubeClient, namespace: str, name: str) -> None:
        self.kube, self.namespace, self.name = kube, namespace, name
        self.writes: list[Obj] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TargetWatch:
        current = await self.kube.get(SECRETS.path(self.namespace, self.name))
        self._task = asyncio.create_task(self._run(current["metadata"]["resourceVersion"]))
        return self

    async def _run(self, resource_version: str) -> None:
        async for event in self.kube.watch(
            SECRETS.path(self.namespace),
            resource_version=resource_version,
            params={"fieldSelector": f"metadata.name={self.name}"},
        ):
            if event["type"] in ("MODIFIED", "DELETED"):
                self.writes.append(event["object"])

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def controller(kube: KubeClient, *namespaces: str, **opts: Any) -> AsyncIterator[Manager]:
    """The real controller, in-process, scoped to the test's namespaces."""
    manager = Manager(kube, Options(namespaces=list(namespaces), metrics_port=None, **opts))
    task = asyncio.create_task(manager.run())
    try:
        await eventually(lambda: _ready(manager, task), timeout=10)
        yield manager
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _ready(manager: Manager, task: asyncio.Task[None]) -> bool:
    if task.done():
        task.result()  # surface a start-up failure
    return manager.ready()
