"""Rollout restarts: workloads learn that the values they read changed (issue 14).

A rotated password that never reaches the pods (VSO #494), or a Deployment
restarted every 30 s for nothing (VSO #582): the two ways a restart feature
fails. So a restart is tied to an *effective change*: a write that changed the
value of a key this SecretSync had already synced (the plan's `changed`, minus
drift corrections). The first sync, a refresh that read the same values, a
drift correction and a status-only reconcile restart nothing.

Debounce, level-triggered and restart-safe: the first effective change of a
burst records `status.rollout.pendingSince` (RFC 3339 with microseconds),
pending while it differs from `status.rollout.restarted`; the workloads are
restarted `debounce` after it, whatever else changed meanwhile,
so a burst of changes restarts once and a change stream never restarts more
than once per `debounce` (nor postpones forever). The restart sets the pod
template annotation `rollout.secretloom.io/<SecretSync>` to that
`pendingSince` value with a merge patch: a retry after a crash writes the same
value, which changes nothing and creates no ReplicaSet, and the next change
has a new value. The annotation holds a time, never a hash of values (a pod
template is readable by more people than the Secret).

Which workloads: the ones `spec.rollout.restart` lists (admission checks that
the author may `patch` each), and any Deployment, StatefulSet, DaemonSet or (Argo Rollouts
installed) Rollout of
the namespace that opts in with the annotation
`secretloom.io/restart-on-change: <target>[,<target>...]` (Reloader's
convention); a workload that merely mounts the Secret is left alone. Opt-in
workloads are listed only when a restart is due, so a SecretSync without
`spec.rollout` costs nothing. A listed workload that is missing or refused is
reported in `status.rollout.problems`; the others are restarted regardless.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping

from secretloom.api import kubetime
from secretloom.api import secretsync as api
from secretloom.controllers.secretsync.naming import version_hash
from secretloom.runtime.events import EventRecorder
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.resources import Resource

log = logging.getLogger(__name__)

ANNOTATION_PREFIX = "rollout.secretloom.io/"
WORKLOADS = {
    "Deployment": Resource("apps", "v1", "deployments"),
    "StatefulSet": Resource("apps", "v1", "statefulsets"),
    "DaemonSet": Resource("apps", "v1", "daemonsets"),
    # Argo Rollouts: its pod template is a Deployment's, and a changed template is a new
    # revision it rolls out by its own strategy (canary, blue-green) — the restart it wants.
    "Rollout": Resource("argoproj.io", "v1alpha1", "rollouts"),
}
_NAME_LIMIT = 63  # the name part of an annotation key


def annotation_key(sync_name: str) -> str:
    """`rollout.secretloom.io/<name>`; a name too long for a key becomes a prefix and a hash."""
    if len(sync_name) <= _NAME_LIMIT:
        return ANNOTATION_PREFIX + sync_name
    digest = version_hash(sync_name)
    return f"{ANNOTATION_PREFIX}{sync_name[: _NAME_LIMIT - len(digest) - 1]}-{digest}"


def timestamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def effective_change(written: frozenset[str], previous: Mapping[str, api.KeyStatus]) -> bool:
    """Did a write change values a consumer had already been given (not the first sync)?"""
    return bool(written) and any(s.state == "Synced" for s in previous.values())


def advance(
    state: api.RolloutStatus | None, *, changed: bool, now: datetime.datetime
) -> api.RolloutStatus:
    """The state after a reconcile: a change opens a pending restart unless one is open.

    `pendingSince` is status anyone with status-write access may write: a
    pending value that is not an RFC 3339 time (with or without fractional
    seconds), or one later than `now`, starts the debounce afresh from `now`
    — the restart it stood for still happens, once — never an error that
    would stop every reconcile before its status write, nor a wait that
    never ends.
    """
    state = state or api.RolloutStatus()
    if state.pending:
        since = kubetime.parse(state.pending_since)
        if since is None or since > now:
            return state.model_copy(update={"pending_since": timestamp(now)})
    if changed and not state.pending:
        return state.model_copy(update={"pending_since": timestamp(now)})
    return state


def due_in(state: api.RolloutStatus, debounce: float, now: datetime.datetime) -> float | None:
    """Seconds until the pending restart is due (0: now), None when nothing is pending."""
    if not state.pending:
        return None
    since = kubetime.parse(state.pending_since)
    if since is None:  # unreadable: `advance` starts the debounce afresh, never a restart now
        return debounce
    return max(0.0, debounce - (now - since).total_seconds())


def opted_in(workload: Obj, target: str) -> bool:
    annotations = workload.get("metadata", {}).get("annotations") or {}
    wanted = annotations.get(api.RESTART_ON_CHANGE_ANNOTATION, "")
    return target in {name.strip() for name in wanted.split(",")}


class Rollouts:
    """Decides and makes the restarts of one controller's SecretSyncs."""

    def __init__(self, client: KubeClient, events: EventRecorder) -> None:
        self._client = client
        self._events = events

    async def step(
        self,
        obj: Obj,
        spec: api.SecretSyncSpec,
        state: api.RolloutStatus | None,
        *,
        changed: bool,
    ) -> tuple[api.RolloutStatus | None, float | None]:
        """The new `status.rollout`, and when to look again for a restart still pending."""
        if spec.rollout is None:
            return None, None
        now = datetime.datetime.now(datetime.UTC)
        state = advance(state, changed=changed, now=now)
        wait = due_in(state, spec.rollout.debounce_seconds(), now)
        if wait is None or wait > 0:
            return state, wait
        restarted, problems = await self._restart(obj, spec, state.pending_since)
        if restarted:
            self._events.emit(
                obj,
                "RolloutRestarted",
                f"restarted {', '.join(restarted)}: the values of Secret "
                f"{spec.target.name!r} changed",
                warning=False,
            )
        log.info(
            "restarted workloads",
            extra={"sync": obj["metadata"]["name"], "workloads": restarted, "problems": problems},
        )
        done = state.model_copy(
            update={
                "restarted": state.pending_since,
                "restart_time": timestamp(now),
                "problems": problems,
            }
        )
        return done, None

    async def _restart(
        self, obj: Obj, spec: api.SecretSyncSpec, value: str
    ) -> tuple[list[str], list[str]]:
        assert spec.rollout is not None
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        body = {"spec": {"template": {"metadata": {"annotations": {annotation_key(name): value}}}}}
        wanted: list[tuple[str, str]] = [(t.kind, t.name) for t in spec.rollout.restart]
        problems: list[str] = []
        for kind, resource in WORKLOADS.items():
            try:
                items, _ = await self._client.list(resource.path(namespace))
            except ApiError as err:
                if err.status == 404 and resource.group == "argoproj.io":
                    continue  # Argo Rollouts is not installed: no Rollout can opt in
                problems.append(f"listing {resource.plural} for opt-ins failed: {err.status}")
                continue
            wanted += [
                (kind, w["metadata"]["name"])
                for w in items
                if opted_in(w, spec.target.name) and (kind, w["metadata"]["name"]) not in wanted
            ]
        restarted: list[str] = []
        for kind, workload in wanted:
            label = f"{kind.lower()}/{workload}"
            try:
                await self._client.merge_patch(WORKLOADS[kind].path(namespace, workload), body)
            except ApiError as err:
                reason = "not found" if err.status == 404 else f"refused ({err.status})"
                problems.append(f"{label} {reason}")
                continue
            restarted.append(label)
        return restarted, problems
