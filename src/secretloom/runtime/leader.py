"""Leader election on a `coordination.k8s.io/v1` Lease, as client-go does it.

Only the leader writes; standbys keep their caches warm and poll the Lease.
Safety comes from optimistic concurrency: every acquire and renew is a PUT
carrying the resourceVersion read just before, so two replicas can never both
believe they renewed. Expiry is judged on the standby's own clock from when
it *observed* the record change (not from `renewTime`), so clock skew between
replicas cannot shorten a lease. A standby therefore takes over at most
`lease_duration + 2 * retry_period` after the leader's last renewal.

A leader that cannot renew for `renew_deadline` steps down (the caller exits,
as controller-runtime does); on a clean shutdown it releases the Lease so a
standby takes over at once.

Stepping down on the next renewal attempt is not enough: a leader paused past
its lease (SIGSTOP, a stalled VM) wakes up with a queue full of work and would
apply it before its renewal loop even runs — the chaos suite caught exactly
that, rolling keys back after a standby had taken over. So `valid()` is a
write fence for the client: true only while the last successful renewal
*began* less than `renew_deadline` ago on the monotonic clock (which keeps
counting while a process is stopped). `renew_deadline < lease_duration` means
the fence closes before any standby can take the Lease over. The Lease's own
acquire/renew/release requests are the only writes that pass it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

from prometheus_client import Gauge

from secretloom.api import kubetime
from secretloom.runtime import metrics
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.resources import LEASES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseConfig:
    namespace: str
    name: str = "secretloom-controller"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


class LeaderElector:
    def __init__(
        self,
        client: KubeClient,
        config: LeaseConfig,
        identity: str,
        *,
        # secretloom_leader by default; a shard's as secretloom_shard_held; None: not reported.
        gauge: Gauge | None = metrics.LEADER,
    ) -> None:
        self._client = client
        self._config = config
        self._gauge = gauge
        self.identity = identity
        self._observed: tuple[str, float] | None = None  # (resourceVersion, monotonic seen)
        self._renewed = -float("inf")  # monotonic start of the last successful renewal
        self.is_leader = asyncio.Event()

    def valid(self) -> bool:
        """The write fence: this replica holds the lease and renewed it recently enough."""
        fresh = time.monotonic() - self._renewed < self._config.renew_deadline
        return self.is_leader.is_set() and fresh

    def _report(self, held: int) -> None:
        if self._gauge is not None:
            self._gauge.set(held)

    @property
    def name(self) -> str:
        return self._config.name

    @property
    def _path(self) -> str:
        return LEASES.path(self._config.namespace, self._config.name)

    async def acquire(self) -> None:
        """Block until this replica holds the lease."""
        while not await self.try_acquire_or_renew():
            await asyncio.sleep(self._config.retry_period)

    async def hold(self) -> None:
        """Renew until renewal fails for `renew_deadline`; then return (leadership lost)."""
        while True:
            await asyncio.sleep(self._config.retry_period)
            if not await self.renew():
                return

    async def renew(self) -> bool:
        """One renewal; False (and the lease given up) once it failed for `renew_deadline`."""
        if await self.try_acquire_or_renew() or self.valid():
            return True
        log.error("lost leadership", extra={"identity": self.identity, "lease": self._config.name})
        self._report(0)
        self.is_leader.clear()
        return False

    async def is_free(self) -> bool:
        """Whether the Lease could be taken now (no holder, or it expired), without taking it.

        Each call also observes the record, so call it every retry period to judge
        expiry as `_expired` does, from when the record last changed.
        """
        try:
            lease = await self._client.get(self._path)
        except ApiError as err:
            return err.status == 404
        holder = (lease.get("spec") or {}).get("holderIdentity") or ""
        return not holder or holder == self.identity or self._expired(lease)

    async def release(self) -> None:
        """Give the lease up so a standby need not wait for it to expire."""
        if not self.is_leader.is_set():
            return
        # The fence closes before the Lease is offered to anyone else.
        self.is_leader.clear()
        self._report(0)
        try:
            lease = await self._client.get(self._path)
            if lease["spec"].get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = ""
                lease["spec"]["leaseDurationSeconds"] = 1
                await self._client.replace(self._path, lease, unfenced=True)
        except ApiError as err:
            log.warning("releasing the lease failed", extra={"error": str(err)})

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True while this replica holds the lease."""
        started = time.monotonic()
        if not await self._acquire_or_renew():
            return False
        self._renewed = started
        if not self.is_leader.is_set():
            log.info("became leader", extra={"identity": self.identity, "lease": self._config.name})
            self._report(1)
            self.is_leader.set()
        return True

    async def _acquire_or_renew(self) -> bool:
        now = kubetime.micro_now()
        spec: Obj = {
            "holderIdentity": self.identity,
            # Whole seconds, rounded up: a Lease shorter than `lease_duration` could pass
            # to a standby while this replica's write fence is still open.
            "leaseDurationSeconds": math.ceil(self._config.lease_duration),
            "renewTime": now,
        }
        try:
            lease = await self._client.get(self._path)
        except ApiError as err:
            if err.status != 404:
                return False
            return await self._create({**spec, "acquireTime": now, "leaseTransitions": 0})
        current = lease.get("spec") or {}
        holder = current.get("holderIdentity") or ""
        if holder and holder != self.identity and not self._expired(lease):
            return False
        if holder != self.identity:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(current.get("leaseTransitions") or 0) + 1
        lease["spec"] = {**current, **spec}
        try:
            updated = await self._client.replace(self._path, lease, unfenced=True)
        except ApiError:
            return False  # someone else won the race (409) or the server is away
        self._observed = (updated["metadata"]["resourceVersion"], time.monotonic())
        return True

    async def _create(self, spec: Obj) -> bool:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self._config.name, "namespace": self._config.namespace},
            "spec": spec,
        }
        try:
            created = await self._client.create(
                LEASES.path(self._config.namespace), body, unfenced=True
            )
        except ApiError:
            return False
        self._observed = (created["metadata"]["resourceVersion"], time.monotonic())
        return True

    def _expired(self, lease: Obj) -> bool:
        version = lease["metadata"]["resourceVersion"]
        if self._observed is None or self._observed[0] != version:
            self._observed = (version, time.monotonic())
            return False
        duration = float(lease["spec"].get("leaseDurationSeconds") or self._config.lease_duration)
        return time.monotonic() - self._observed[1] > duration
