"""Kubernetes Events (events.k8s.io/v1) with a spam filter.

An Event names the object, a CamelCase reason and a note for people. Notes are
built by controllers from key names, field managers and counts, never from
values. A repeated (object, reason, note) inside `dedup_window` is counted, not
re-sent, so a contested key cannot flood the API server with Events (client-go
has the same filter).
"""

from __future__ import annotations

import datetime
import logging
import time
import uuid

from secretloom.runtime.kube import EVENTS, ApiError, KubeClient, Obj

log = logging.getLogger(__name__)
REPORTING_CONTROLLER = "secretloom.io/controller"


class EventRecorder:
    def __init__(self, client: KubeClient, instance: str, dedup_window: float = 60.0) -> None:
        self._client = client
        self._instance = instance[:128]
        self._window = dedup_window
        self._recent: dict[tuple[str, str, str], float] = {}

    async def emit(self, regarding: Obj, reason: str, note: str, *, warning: bool = False) -> None:
        meta = regarding["metadata"]
        fingerprint = (meta.get("uid", ""), reason, note)
        now = time.monotonic()
        if now - self._recent.get(fingerprint, -self._window) < self._window:
            return
        self._recent = {k: t for k, t in self._recent.items() if now - t < self._window}
        self._recent[fingerprint] = now
        namespace = meta.get("namespace") or "default"
        body = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:12]}", "namespace": namespace},
            "eventTime": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "reportingController": REPORTING_CONTROLLER,
            "reportingInstance": self._instance,
            "action": reason,
            "reason": reason,
            "note": note[:1024],
            "type": "Warning" if warning else "Normal",
            "regarding": {
                "apiVersion": regarding.get("apiVersion", ""),
                "kind": regarding.get("kind", ""),
                "name": meta["name"],
                "namespace": namespace,
                "uid": meta.get("uid", ""),
                "resourceVersion": meta.get("resourceVersion", ""),
            },
        }
        try:
            await self._client.create(EVENTS.path(namespace), body)
        except ApiError as err:
            # Events are best effort: losing one must not fail a reconcile.
            log.warning("recording an event failed", extra={"reason": reason, "error": str(err)})
