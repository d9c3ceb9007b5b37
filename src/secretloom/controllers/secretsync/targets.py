"""Coalesced writes to aggregated targets: one apply in flight per target (issue 17).

A SecretSync of an aggregated target (`aggregate.py`) hands its keys to
`AggregatedWrites.write` and waits for the apply that carries them. At most one
apply per target is in flight; what arrives meanwhile waits and goes out
together in the next one, so a hundred writers changing at 20/s cost about as
many applies as the API server answers in that time, each as cheap as a
single-manager apply, instead of one expensive apply per change.

Each round merges with the newest target it knows: the cache, or the answer to
its own last apply when the watch has not delivered that yet (merging with an
older copy would drop another SecretSync's fresh value, or a key the last round
added). A SecretSync that once wrote the target as its own manager is released
from it (an empty apply as that manager) once the aggregated manager co-owns
every key that manager still holds and its SecretSync still asks for: a key is
never removed by changing modes, and a key it no longer asks for is not left
behind either. The reverse, when a target drops below the
threshold, is `disband`: the aggregated manager keeps only what no SecretSync's
own manager holds yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from secretloom.controllers.secretsync import aggregate
from secretloom.controllers.secretsync import plan as planning
from secretloom.controllers.secretsync.naming import field_manager
from secretloom.runtime import metrics
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.meta import data_keys_by_manager, recorded_owners, strip_managed_fields
from secretloom.runtime.resources import SECRETS
from secretloom.runtime.secrets import SecretCache

log = logging.getLogger(__name__)
Target = tuple[str, str]  # namespace, Secret name


@dataclass(frozen=True)
class Written:
    """What one coalesced round did for one SecretSync."""

    applied: bool  # an apply went out in this round
    changed: frozenset[str] = frozenset()  # its keys whose value the apply changed
    yielded: dict[str, str] = field(default_factory=dict)  # key -> the manager keeping it
    retaken: frozenset[str] = frozenset()  # drift taken back from another writer
    held_back: bool = False  # drift to take back, but its correction backs off
    version: str = ""  # resourceVersion of the target the apply made ("" if none)


class AggregatedWrites:
    def __init__(
        self,
        client: KubeClient,
        secrets: SecretCache,
        *,
        claims: Callable[[str, str], Mapping[str, planning.Claim]],
        holder: Callable[[str, str], planning.Claim | None],
        force_foreign: bool,
    ) -> None:
        self._client = client
        self._secrets = secrets
        self._claims = claims  # (namespace, target) -> the SecretSyncs aggregated into it
        self._holder = holder  # (namespace, manager) -> the SecretSync writing as it, or None
        self._force_foreign = force_foreign
        self._pending: dict[
            Target, dict[str, tuple[aggregate.Contribution, asyncio.Future[Written]]]
        ]
        self._pending = {}
        self._draining: dict[Target, asyncio.Task[None]] = {}
        self._last: dict[Target, Obj] = {}  # the answer to the last apply of each target
        self._released: set[tuple[str, str, str]] = set()  # own managers already let go
        # One disband at a time per target: each must see what the one before it left.
        self._disbanding: dict[Target, asyncio.Lock] = {}

    async def write(self, target: Target, contribution: aggregate.Contribution) -> Written:
        """Queue `contribution` for the next apply of `target`; its result."""
        done: asyncio.Future[Written] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(target, {})[contribution.sync] = (contribution, done)
        if target not in self._draining:
            self._draining[target] = asyncio.create_task(self._drain(target))
        return await done

    async def close(self) -> None:
        for task in list(self._draining.values()):
            task.cancel()
        await asyncio.gather(*self._draining.values(), return_exceptions=True)

    async def _drain(self, target: Target) -> None:
        try:
            while batch := self._pending.pop(target, None):
                try:
                    results = await self._round(target, {s: c for s, (c, _) in batch.items()})
                except Exception as err:  # every waiting reconcile sees the refusal
                    for _, done in batch.values():
                        if not done.done():
                            done.set_exception(err)
                else:
                    for sync, (_, done) in batch.items():
                        if not done.done():
                            done.set_result(results[sync])
        finally:
            del self._draining[target]

    async def _round(
        self, target: Target, batch: Mapping[str, aggregate.Contribution]
    ) -> dict[str, Written]:
        namespace, name = target
        current = await self._current(target)
        claims = self._claims(namespace, name)
        merged = aggregate.merge(namespace, name, current, batch, claims)
        answer = None
        if merged.body is not None:
            path = SECRETS.path(namespace, name)
            manager = aggregate.aggregate_manager(namespace, name)
            try:
                answer = await self._client.apply(path, merged.body, field_manager=manager)
            except ApiError as err:
                if err.status != 409:
                    raise
                owners = planning.conflicts_of(err)
                merged = aggregate.after_conflict(
                    merged,
                    owners,
                    batch,
                    {m: self._holder(namespace, m) for m in set(owners.values())},
                    force_foreign=self._force_foreign,
                )
                if merged.body is not None:
                    answer = await self._client.apply(
                        path, merged.body, field_manager=manager, force=merged.force
                    )
        if answer is not None:
            metrics.TARGET_WRITES.inc()
            # Remembered before the releases, which are applies too: if one fails, the next
            # round must still merge with what this apply wrote, not an older cached copy.
            # Who owns what is read first: the remembered copy loses managedFields in place.
            holders = data_keys_by_manager(answer)
            self._last[target] = strip_managed_fields(answer)
            await self._release_own_managers(target, batch, answer, holders)
        before = (current or {}).get("data") or {}
        data = (merged.body or {}).get("data") or {}
        return {
            sync: Written(
                applied=answer is not None,
                changed=frozenset(
                    k for k in ask.data if merged.record.get(k) == sync and before.get(k) != data[k]
                )
                if answer is not None
                else frozenset(),
                yielded=merged.yielded.get(sync, {}),
                retaken=merged.retaken.get(sync, frozenset()),
                held_back=sync in merged.held_back,
                version=(answer or {}).get("metadata", {}).get("resourceVersion", ""),
            )
            for sync, ask in batch.items()
        }

    async def _current(self, target: Target) -> Obj | None:
        """The newest copy of `target` known: the cache, or the answer to our last apply."""
        cached = await self._secrets.get_with_data(*target)
        last = self._last.get(target)
        if last is None:
            return cached
        if cached is None:  # deleted, or created by our last apply and not seen yet
            self._last.pop(target)
            return await self._live(target)
        return cached if _version(cached) >= _version(last) else last

    async def _live(self, target: Target) -> Obj | None:
        try:
            return await self._client.get(SECRETS.path(*target))
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    async def _release_own_managers(
        self,
        target: Target,
        batch: Mapping[str, aggregate.Contribution],
        answer: Obj,
        owners: Mapping[str, set[str]],
    ) -> None:
        """Let go of the own managers of SecretSyncs that wrote this target before it aggregated.

        What an own manager holds that the aggregated manager now co-owns has
        moved; what its SecretSync no longer asks for is dropped, as its own
        apply would have dropped it (a SecretSync that stops being dynamic, for
        one, turns aggregated with its lease keys still on its own manager). The
        rest stays with the own manager, and the next round looks again: the
        manager is let go (an empty apply) only once it holds nothing else, so a
        key is never removed by changing modes. `owners`: the data keys of each
        manager in `answer`.
        """
        namespace, name = target
        first = [s for s in batch if (namespace, name, s) not in self._released]
        if not first:
            return
        ours = owners.get(aggregate.aggregate_manager(namespace, name), set())
        for sync in first:
            manager = field_manager(namespace, sync)
            held = owners.get(manager)
            if held is None:
                self._released.add((namespace, name, sync))
                continue
            keep = (held & batch[sync].data.keys()) - ours
            if keep and keep == held:
                continue  # nothing moved or dropped yet
            data = answer.get("data") or {}
            kept = {k: data[k] for k in keep if k in data}
            await self._client.apply(
                SECRETS.path(namespace, name),
                aggregate.own_body(namespace, name, answer, kept),
                field_manager=manager,
            )
            if not keep:
                self._released.add((namespace, name, sync))
            log.info(
                "moved keys to the aggregated field manager",
                extra={
                    "sync": f"{namespace}/{sync}",
                    "secret": name,
                    "moved": len(held & ours),
                    "dropped": len(held - ours - keep),
                    "kept": len(keep),
                },
            )

    async def disband(self, target: Target) -> None:
        """The target is no longer aggregated: drop what its SecretSyncs' own managers now hold.

        Keys no other manager holds yet stay with the aggregated manager, and in
        the record, until their SecretSync next writes them as its own.
        """
        lock = self._disbanding.setdefault(target, asyncio.Lock())
        async with lock:
            await self._disband(target)
        if not lock.locked():
            self._disbanding.pop(target, None)

    async def _disband(self, target: Target) -> None:
        live = await self._live(target)
        if live is None or not recorded_owners(live):
            return
        namespace, name = target
        manager = aggregate.aggregate_manager(namespace, name)
        owners = data_keys_by_manager(live)
        elsewhere = set().union(*(keys for m, keys in owners.items() if m != manager))
        current = live.get("data") or {}
        record = {
            k: s
            for k, s in recorded_owners(live).items()
            if k in owners.get(manager, set()) and k not in elsewhere and k in current
        }
        body = aggregate.body(namespace, name, live, {k: current[k] for k in record}, record)
        answer = await self._client.apply(
            SECRETS.path(namespace, name), body, field_manager=manager
        )
        self._last[target] = strip_managed_fields(answer)
        metrics.TARGET_WRITES.inc()


def _version(obj: Obj) -> int:
    try:
        return int(obj["metadata"].get("resourceVersion") or 0)
    except ValueError:  # opaque by contract; etcd's are integers
        return 0
