"""Sharding across replicas on Kubernetes Leases (`--shards N`, issue 17).

One leader is one writer for the whole cluster; past one process's reach the
work is split into N shards, each guarded by its own `coordination.k8s.io`
Lease (`<name>-shard-<i>`), so the coordination lives in etcd like every other
Kubernetes controller's, not in a home-made coordinator.

A namespaced object belongs to the shard `shard_of(namespace)`: a stable hash
of its namespace. All writers of one target Secret live in the Secret's
namespace, so they always land on one shard and field ownership is never
contested between replicas. Cluster-scoped writes (a ClusterSecretStore's
status) belong to shard 0.

Balance without a coordinator: each replica also renews a member Lease
(`<name>-member-<hash of identity>`), so every replica sees how many replicas
are alive and takes its fair share, `ceil(N / live)`. A replica holding more
than its share hands the surplus back (releases the Lease, which another
replica then takes); one holding less takes free or expired shards, starting
from a place derived from its identity so replicas do not all race for
shard 0. For its first lease duration a replica takes at most one shard:
until the others' member Leases have been seen, "live" undercounts and the
first replica up would otherwise take every shard only to hand most back.
A dead replica's member and shard Leases stop changing together, so a
survivor takes its shards over within `lease_duration + 2 * retry_period`
of its last renewal (expiry judged on the observer's clock, as in
runtime/leader.py, whose `LeaderElector` guards every shard Lease). A replica
deletes its member Lease on a clean shutdown; one left by a crash is deleted
by a survivor once it has not changed for `STALE_MEMBER` lease durations, so
members do not pile up across restarts (the shard Leases are the chart's).

The write fence generalises the leader's: a write is allowed only for a
namespace whose shard this replica holds *and* renewed within the renew
deadline. A shard lost to a failed renewal stops the process (as losing the
leader Lease does); a shard handed back on purpose closes its fence before
the Lease is released.

The informers still watch every shard's objects: the API cannot select by a
hash of the namespace, and a warm cache is what lets a replica take a shard
over at once. Memory is therefore that of one replica; sharding divides the
work (reconciles, store reads, writes), not the cache.

Changing N needs all replicas stopped first (the chart uses the Recreate
strategy when `shards` changes are rolled out): replicas with different N
would map one namespace to different Leases.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import math
import re
import time
from collections.abc import Callable

from secretloom.runtime import metrics
from secretloom.runtime.kube import ApiError, KubeClient
from secretloom.runtime.leader import LeaderElector, LeaseConfig
from secretloom.runtime.resources import LEASES

log = logging.getLogger(__name__)
_NAMESPACED = re.compile(r"/namespaces/([^/]+)/")
STALE_MEMBER = 10  # lease durations without a change before a member Lease is deleted


def shard_of(namespace: str, shards: int) -> int:
    """The shard of a namespace: stable across processes, versions and restarts."""
    digest = hashlib.sha256(namespace.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def namespace_of_path(path: str) -> str:
    """The namespace an API path writes into; "" for a cluster-scoped object."""
    found = _NAMESPACED.search(path)
    return found.group(1) if found else ""


class ShardLost(Exception):
    """A held shard failed to renew for its renew deadline: stop writing, restart."""


class Shards:
    """This replica's shard Leases, kept at its fair share; see the module docstring."""

    def __init__(
        self,
        client: KubeClient,
        config: LeaseConfig,
        identity: str,
        count: int,
        *,
        on_acquired: Callable[[int], None],
    ) -> None:
        self.count = count
        self._client = client
        self._config = config
        self._on_acquired = on_acquired
        self._electors = [
            LeaderElector(
                client,
                dataclasses.replace(config, name=f"{config.name}-shard-{i}"),
                identity,
                gauge=metrics.SHARD_HELD.labels(str(i)),
            )
            for i in range(count)
        ]
        member = hashlib.sha256(identity.encode()).hexdigest()[:12]
        self._member_prefix = f"{config.name}-member-"
        self._member = LeaderElector(
            client,
            dataclasses.replace(config, name=self._member_prefix + member),
            identity,
            gauge=None,
        )
        self._seen: dict[str, tuple[str, float]] = {}  # member Lease -> (version, seen at)
        start = int(member, 16) % count
        self._preference = [(start + i) % count for i in range(count)]

    def held(self) -> list[int]:
        return [i for i, e in enumerate(self._electors) if e.is_leader.is_set()]

    def owns(self, namespace: str) -> bool:
        """Whether this replica works on `namespace` now (cluster-scoped: "", shard 0)."""
        shard = shard_of(namespace, self.count) if namespace else 0
        return self._electors[shard].is_leader.is_set()

    def may_write(self, path: str) -> bool:
        """The write fence: the path's shard is held and was renewed recently enough."""
        namespace = namespace_of_path(path)
        shard = shard_of(namespace, self.count) if namespace else 0
        return self._electors[shard].valid()

    async def run(self) -> None:
        """Keep the fair share every retry period; raises ShardLost when a renewal failed."""
        started = time.monotonic()
        while True:
            await self._member.try_acquire_or_renew()
            for shard in self.held():
                if not await self._electors[shard].renew():
                    raise ShardLost(f"lost the Lease of shard {shard}")
            warming = time.monotonic() - started < self._config.lease_duration
            share = 1 if warming else math.ceil(self.count / await self._live_members())
            await self._hand_back(share)
            await self._take(share)
            await asyncio.sleep(self._config.retry_period)

    async def release(self) -> None:
        """On shutdown: give every shard back so the others take over at once, and leave."""
        for elector in self._electors:
            await elector.release()
        await self._delete_member(self._member.name)

    async def _live_members(self) -> int:
        """Replicas whose member Lease changed within a lease duration (at least this one)."""
        try:
            leases = await self._client.get(LEASES.path(self._config.namespace))
        except ApiError as err:
            log.warning("listing the member Leases failed", extra={"error": str(err)})
            return max(1, len(self._seen))
        now = time.monotonic()
        live = 0
        current: dict[str, tuple[str, float]] = {}
        for lease in leases.get("items") or []:
            name = lease["metadata"]["name"]
            if not name.startswith(self._member_prefix):
                continue
            if not (lease.get("spec") or {}).get("holderIdentity"):
                continue  # released on a clean shutdown
            version = lease["metadata"]["resourceVersion"]
            previous = self._seen.get(name)
            seen = previous[1] if previous and previous[0] == version else now
            current[name] = (version, seen)
            live += now - seen <= self._config.lease_duration
            if now - seen > STALE_MEMBER * self._config.lease_duration:
                await self._delete_member(name)  # its replica crashed long ago
        self._seen = current
        return max(1, live)

    async def _delete_member(self, name: str) -> None:
        try:
            await self._client.delete(LEASES.path(self._config.namespace, name), unfenced=True)
        except ApiError as err:
            if err.status != 404:
                log.warning("deleting a member Lease failed", extra={"error": str(err)})

    async def _hand_back(self, share: int) -> None:
        held = self.held()
        for shard in sorted(held, key=self._preference.index, reverse=True)[
            : max(0, len(held) - share)
        ]:
            log.info("handing a shard back", extra={"shard": shard, "share": share})
            await self._electors[shard].release()

    async def _take(self, share: int) -> None:
        # Every shard held elsewhere is observed on every round, wanted or not, so
        # a dead holder's Lease is already known to be stale when the share grows.
        free = [
            shard
            for shard in self._preference
            if not self._electors[shard].is_leader.is_set()
            and await self._electors[shard].is_free()
        ]
        for shard in free:
            if len(self.held()) >= share:
                return
            elector = self._electors[shard]
            if await elector.try_acquire_or_renew():
                log.info("took a shard", extra={"shard": shard, "share": share})
                self._on_acquired(shard)
