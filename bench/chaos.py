"""Churn with faults: keys under load while the control plane, the store or the leader fails.

`python -m bench.chaos` (`make chaos`) runs every fault on a control plane of
its own, writes bench/results/chaos.json and regenerates docs/benchmarks.md;
tests/chaos/ runs a short pass of the two cheapest faults inside `make test`.
It exits non-zero when a promise breaks, so CI can run it.

What it proves, on real processes only (etcd, kube-apiserver, OpenBao and
`secretloom controller` as subprocesses, faults as signals to their PIDs):
a secrets controller's worst failures are silent ones, a key that is lost,
blanked or rolled back while every dashboard is green (ESO #4225, VSO #1235:
keys wiped from a shared Secret), and a leader that wakes from a pause and
writes after another replica took over (split brain). So, while `rate`
source changes a second hit SecretSyncs that share targets (every
`store_every`-th one also reads an OpenBao key):

* a watch on the targets (resumed from its resourceVersion after an API
  server restart, relisted on 410) checks every state a target goes
  through: no key ever blanked or removed, never a value its source was
  never given (`foreign`), never a value older than one it already showed
  (`stale`: a rollback, what a paused leader would write);
* at the end of each fault's phase the load stops and every target key must
  equal the value its source holds now (read back from the API server and
  OpenBao, so a write whose answer was lost in a fault counts as what it
  did), within a generous bound: a key left at an older value is `lost`,
  any other value `wrong`;
* with two replicas, the API server's audit log (metadata only, never a
  value) names each replica's ServiceAccount, so a write by the old leader
  received after the new one acquired the Lease is counted directly.

Measured, not asserted: convergence after the fault heals (from the moment
the component is back, or for a leader fault the standby holds the Lease,
until every change acknowledged by then and one more change to every source
made at that moment have landed), propagation of Kubernetes-source changes
(source write answered -> first target event holding that value or a later
one) beside the at-rest phase of the same run, and how many changes were
acknowledged while the fault lasted. A source is never written twice at
once, so the order of its values is the order of its writes; the load skips
OpenBao while it is down or hung, since nobody can write to it then either.

Trade-offs: a dev OpenBao keeps its data in memory, so a restart is
re-seeded with the last acknowledged value of every path (as a real server
keeps it) before the load touches it again. Faults follow one another on one
set of SecretSyncs, so a later phase starts from whatever an earlier one
left; each phase is judged on its own checkpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import dataclasses
import itertools
import json
import math
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hvac.exceptions import VaultError

from bench import record, report, workload
from bench.__main__ import _first_line, _source
from bench.record import Json, Target, latency_summary
from secretloom.api import admission, kubetime
from secretloom.runtime import crds
from secretloom.runtime.kube import ApiError, Gone, KubeClient
from secretloom.runtime.resources import LEASES, SECRET_SYNCS, SECRETS, SERVICE_ACCOUNTS
from secretloom.testing import cluster as local
from secretloom.testing import controller
from secretloom.testing.openbao import OpenBaoServer

MOUNT = "secret"
STORE = "bao"
LEASE = "secretloom-controller"
REPLICAS = ("replica-a", "replica-b")
ROLE_FILE = Path(__file__).resolve().parents[1] / "deploy" / "rbac" / "role.yaml"
AT_REST = "none"
LEADER_FAULTS = ("leader-kill", "leader-pause")
Log = Callable[[str], None]
Where = tuple[str, str]  # (target, key)


@dataclass(frozen=True)
class Schedule:
    faults: tuple[str, ...]
    syncs: int = 60  # SecretSyncs, each with one Kubernetes source
    store_every: int = 4  # every n-th one also reads an OpenBao key
    targets: int = 10
    rate: float = 20.0  # source changes per second, through every phase
    store_share: float = 0.2  # of those, changes to OpenBao
    rest_s: float = 20.0  # the phase without a fault
    lead_s: float = 5.0  # load before the fault
    hold_s: float = 10.0  # how long a process stays down, paused or stopped
    tail_s: float = 15.0  # load after the fault heals
    converge_s: float = 120.0  # the checkpoint's bound: past it, a key is lost
    refresh: str = "1s"  # the OpenBao SecretSyncs' refreshInterval
    lease: tuple[float, float, float] = (3.0, 2.0, 0.5)  # duration, renew deadline, retry
    in_flight: int = 8  # Kubernetes writes at once; a tick beyond is skipped
    seed: int = 10

    def json(self) -> Json:
        return dataclasses.asdict(self)


# --- keys, values, and what the targets showed ----------------------------------------


def stamp(index: int, seq: int, kind: str) -> str:
    return f"{index}-{seq:09d}-{kind}"


def parse(value: str) -> tuple[int, int, bool] | None:
    """(source index, sequence number, from OpenBao) of a target value; None if not ours."""
    try:
        index, seq, rest = base64.b64decode(value, validate=True).decode().split("-", 2)
        return int(index), int(seq), rest == "bao"
    except ValueError:  # binascii.Error and UnicodeDecodeError included
        return None


@dataclass(eq=False)
class Track:
    """One target key: the values its source was given, and when the target reached them."""

    target: str
    key: str
    index: int
    store: bool
    attempted: set[int] = field(default_factory=set)
    acks: list[tuple[int, float, bool]] = field(default_factory=list)  # (seq, answered, probe)
    advances: list[tuple[int, float]] = field(default_factory=list)  # target first held seq
    seen: int = -1
    present: bool = False

    def reached(self, seq: int) -> float | None:
        """When the target first held value `seq` of its source or a later one."""
        at = bisect.bisect_left(self.advances, (seq, -math.inf))
        return self.advances[at][1] if at < len(self.advances) else None

    def acked(self, before: float) -> int:
        return max((seq for seq, at, _ in self.acks if at <= before), default=-1)


@dataclass(frozen=True)
class Incident:
    kind: str  # blanked, foreign, stale
    target: str
    key: str
    at: float
    detail: str  # sequence numbers, never a value


class TargetLog:
    """Every state the targets go through, from the API server's watch stream."""

    def __init__(self, kube: KubeClient, namespace: str, tracks: Iterable[Track]) -> None:
        self.kube, self.path = kube, SECRETS.path(namespace)
        self.params = {"labelSelector": f"{workload.ROLE}=target"}
        self.by_target: dict[str, list[Track]] = {}
        for track in tracks:
            self.by_target.setdefault(track.target, []).append(track)
        self.incidents: list[Incident] = []
        self.relists = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(await self._list()))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _list(self) -> str:
        items, version = await self.kube.list(self.path, params=self.params)
        now = time.monotonic()
        for item in items:
            self.ingest(item["metadata"]["name"], item.get("data") or {}, now)
        return version

    async def _run(self, version: str | None) -> None:
        while True:
            try:
                if version is None:
                    version = await self._list()
                    self.relists += 1
                async for event in self.kube.watch(
                    self.path, resource_version=version, params=self.params
                ):
                    obj = event["object"]
                    version = obj["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        data = {} if event["type"] == "DELETED" else obj.get("data") or {}
                        self.ingest(obj["metadata"]["name"], data, time.monotonic())
            except Gone:
                version = None
            except ApiError:  # the API server is restarting: resume where the stream stopped
                await asyncio.sleep(0.2)

    def ingest(self, target: str, data: dict[str, str], now: float) -> None:
        for track in self.by_target.get(target, ()):
            self._see(track, data.get(track.key), now)

    def _see(self, track: Track, value: str | None, now: float) -> None:
        if not value:
            if track.present:
                self._incident("blanked", track, now, f"after {track.seen}")
            track.present = False
            return
        track.present = True
        found = parse(value)
        if found is None or found[:1] != (track.index,) or found[2] != track.store:
            self._incident("foreign", track, now, "not a value of this source")
        elif found[1] not in track.attempted:
            self._incident("foreign", track, now, f"{found[1]} was never written")
        elif found[1] < track.seen:
            self._incident("stale", track, now, f"{track.seen} -> {found[1]}")
        elif found[1] > track.seen:
            track.advances.append((found[1], now))
            track.seen = found[1]

    def _incident(self, kind: str, track: Track, now: float, detail: str) -> None:
        self.incidents.append(Incident(kind, track.target, track.key, now, detail))


# --- OpenBao and the load ------------------------------------------------------------


class Store:
    """A dev OpenBao holding the store keys; a restart gets back what was acknowledged."""

    def __init__(self, work_dir: Path) -> None:
        self.durable: dict[str, str] = {}  # path -> last acknowledged value
        self.server = OpenBaoServer(work_dir=work_dir, seed=self._seed, die_with_parent=True)

    def _seed(self, server: OpenBaoServer) -> None:
        client = server.client()
        if f"{MOUNT}/" not in client.sys.list_mounted_secrets_engines()["data"]:
            client.sys.enable_secrets_engine(
                backend_type="kv", path=MOUNT, options={"version": "2"}
            )
        for path, value in self.durable.items():
            self.write(path, value)

    def write(self, path: str, value: str) -> None:
        self.server.client().secrets.kv.v2.create_or_update_secret(
            path=path, secret={"v": value}, mount_point=MOUNT
        )

    def read(self, path: str) -> str:
        answer = self.server.client().secrets.kv.v2.read_secret_version(
            path=path, mount_point=MOUNT, raise_on_deleted_version=True
        )
        return str(answer["data"]["data"]["v"])


def store_path(index: int) -> str:
    return f"chaos/p-{index:04d}"


class Churn:
    """Changes random sources at `rate` on an absolute schedule, never one source twice at once.

    A tick whose pick is impossible (every candidate busy, too many writes in
    flight, OpenBao closed) is skipped and counted, never queued: the load
    must not turn into a burst when a fault heals.
    """

    def __init__(
        self, sources: workload.Sources, store: Store, tracks: Sequence[Track], s: Schedule
    ) -> None:
        self.sources, self.store, self.schedule = sources, store, s
        self.k8s = [t for t in tracks if not t.store]
        self.stores = [t for t in tracks if t.store]
        self.locks = {id(t): asyncio.Lock() for t in tracks}
        self.store_open = asyncio.Event()
        self.store_open.set()
        self.rng = random.Random(s.seed)
        self.store_seq = itertools.count(1_000_000)  # apart from the Kubernetes values
        self.failed = self.skipped = 0
        self._busy = {False: 0, True: 0}
        self._limit = {False: s.in_flight, True: 2}
        self._writes: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick())

    async def stop(self) -> None:
        """Stop ticking; returns once every write in flight has its answer."""
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        await asyncio.gather(*self._writes)

    async def probe(self) -> None:
        """One change to every source, waiting for any write in flight to it."""
        await workload.bulk([lambda t=t: self.write(t, probe=True) for t in self.k8s], 16)  # type: ignore[misc]
        for track in self.stores:
            await self.write(track, probe=True)

    async def _tick(self) -> None:
        start = time.monotonic()
        for tick in itertools.count():
            await asyncio.sleep(max(0.0, start + tick / self.schedule.rate - time.monotonic()))
            store = bool(self.stores) and self.rng.random() < self.schedule.store_share
            free = [t for t in (self.stores if store else self.k8s) if not self._locked(t)]
            closed = store and not self.store_open.is_set()
            if closed or not free or self._busy[store] >= self._limit[store]:
                self.skipped += 1
            else:
                task = asyncio.create_task(self.write(self.rng.choice(free)))
                self._writes.add(task)
                task.add_done_callback(self._writes.discard)

    async def close_store(self) -> None:
        """No new OpenBao write, and none in flight: a write cut by a fault is ambiguous."""
        self.store_open.clear()
        while self._busy[True]:
            await asyncio.sleep(0.01)

    def _locked(self, track: Track) -> bool:
        return self.locks[id(track)].locked()

    async def write(self, track: Track, *, probe: bool = False) -> None:
        self._busy[track.store] += 1
        try:
            async with self.locks[id(track)]:
                await (self._bao(track, probe) if track.store else self._k8s(track, probe))
        finally:
            self._busy[track.store] -= 1

    async def _k8s(self, track: Track, probe: bool) -> None:
        value = self.sources.new_value(track.index)
        found = parse(value)
        assert found is not None
        track.attempted.add(found[1])
        try:
            await self.sources.put(track.index, value=value)
        except ApiError:  # the API server or etcd is down: the write may or may not have landed
            self.failed += 1
            return
        track.acks.append((found[1], time.monotonic(), probe))

    async def _bao(self, track: Track, probe: bool) -> None:
        seq = next(self.store_seq)
        value, path = stamp(track.index, seq, "bao"), store_path(track.index)
        track.attempted.add(seq)
        try:
            await asyncio.to_thread(self.store.write, path, value)
        except (VaultError, OSError):  # requests' errors are OSErrors
            self.failed += 1
            return
        self.store.durable[path] = value
        track.acks.append((seq, time.monotonic(), probe))


# --- the controller replicas ---------------------------------------------------------


@dataclass(eq=False)
class Replica:
    """One `secretloom controller` process, as a ServiceAccount the audit log can name."""

    name: str
    user: str
    kubeconfig: Path
    logs: Path
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    starts: int = 0

    @property
    def log(self) -> Path:
        return self.logs / f"{self.name}.{self.starts}.log"

    def spawn(self, args: Sequence[str]) -> None:
        self.starts += 1
        self.proc, self.port = controller.start(
            self.kubeconfig, self.log, *args, die_with_parent=True
        )

    async def ready(self) -> None:
        assert self.proc is not None
        await asyncio.to_thread(controller.wait_ready, self.proc, self.port, self.log, timeout=60)

    async def stop(self) -> None:
        if self.proc is not None:
            await asyncio.to_thread(controller.stop, self.proc)

    def signal(self, signum: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    async def exited(self, timeout: float) -> int | None:
        """The exit code once the process exits, None if it is still running after `timeout`."""
        assert self.proc is not None
        try:
            return await asyncio.to_thread(self.proc.wait, timeout)
        except subprocess.TimeoutExpired:
            return None


class Deployment:
    """One replica without leader election, or two with it; switched between phases."""

    def __init__(
        self, kube: KubeClient, namespace: str, replicas: list[Replica], s: Schedule
    ) -> None:
        self.kube, self.namespace, self.replicas, self.schedule = kube, namespace, replicas, s
        self.mode = ""

    def args(self, *, ha: bool) -> list[str]:
        common = ["--namespaces", self.namespace, "--log-level", "warning"]
        if not ha:
            return common
        duration, deadline, retry = self.schedule.lease
        return [
            *common,
            "--leader-elect",
            f"--lease-duration={duration}",
            f"--renew-deadline={deadline}",
            f"--retry-period={retry}",
        ]

    def running(self) -> list[Replica]:
        return self.replicas[: 2 if self.mode == "ha" else 1] if self.mode else []

    async def use(self, mode: str) -> None:
        if mode == self.mode:
            return
        await self.stop()
        self.mode = mode
        for replica in self.running():
            replica.spawn([*self.args(ha=mode == "ha"), "--identity", replica.name])
        for replica in self.running():
            await replica.ready()
        if mode == "ha":
            await self.holder_is(lambda holder: holder in REPLICAS)

    async def restart(self, replica: Replica) -> None:
        replica.spawn([*self.args(ha=self.mode == "ha"), "--identity", replica.name])
        await replica.ready()

    async def stop(self) -> None:
        for replica in self.running():
            await replica.stop()
        self.mode = ""

    async def revive(self) -> list[str]:
        """Start again the replicas that died on their own, so the run goes on; says which."""
        died = []
        for replica in self.running():
            if replica.proc is not None and replica.proc.poll() is not None:
                died.append(f"{replica.name} exited ({replica.proc.returncode}); log {replica.log}")
                await self.restart(replica)
        return died

    async def roles(self) -> tuple[Replica, Replica]:
        """(leader, standby) from the Lease."""
        lease = await self.kube.get(LEASES.path(self.namespace, LEASE))
        holder = lease["spec"].get("holderIdentity")
        first, second = self.replicas[:2]
        return (first, second) if holder == first.name else (second, first)

    async def holder_is(self, wanted: Callable[[str], bool], timeout: float = 60.0) -> str:
        """Polls the Lease until `wanted(holder)`; returns its acquireTime (RFC 3339)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                spec = (await self.kube.get(LEASES.path(self.namespace, LEASE)))["spec"]
                if wanted(spec.get("holderIdentity") or ""):
                    return str(spec["acquireTime"])
            except ApiError as err:
                if err.status != 404:
                    raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"Lease {LEASE} not taken over within {timeout:.0f}s")
            await asyncio.sleep(0.05)


# --- faults ------------------------------------------------------------------------


@dataclass
class Window:
    injected: float
    healed: float
    lease: tuple[str, str, str] | None = None  # (old leader's user, new leader's user, acquired)
    notes: dict[str, Any] = field(default_factory=dict)
    # What the fault still does once healed (the old leader resumed, restarted): run by the
    # phase after the probes, so they are made at the moment the fault heals.
    then: Coroutine[Any, Any, None] | None = None


@dataclass
class Env:
    kube: KubeClient
    cluster: local.Cluster
    store: Store
    churn: Churn
    deployment: Deployment
    schedule: Schedule
    audit: Path | None
    log: Log


async def _at_rest(env: Env) -> Window:
    now = time.monotonic()
    return Window(now, now)


async def _controller_kill(env: Env) -> Window:
    (replica,) = env.deployment.running()
    injected = time.monotonic()
    replica.signal(signal.SIGKILL)
    await replica.exited(10)
    await asyncio.sleep(env.schedule.hold_s)
    await env.deployment.restart(replica)
    return Window(injected, time.monotonic())


async def _restart(env: Env, name: str) -> Window:
    injected = time.monotonic()
    argv = await asyncio.to_thread(env.cluster.stop_process, name)
    await asyncio.sleep(env.schedule.hold_s)
    env.cluster.start_process(argv, die_with_parent=True)
    deadline = time.monotonic() + 120
    while not await asyncio.to_thread(env.cluster.ready):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the API server not ready 120s after {name} came back")
        await asyncio.sleep(0.1)
    return Window(injected, time.monotonic())


async def _apiserver_restart(env: Env) -> Window:
    return await _restart(env, "kube-apiserver")


async def _etcd_restart(env: Env) -> Window:
    return await _restart(env, "etcd")


async def _openbao_hang(env: Env) -> Window:
    await env.churn.close_store()
    injected = time.monotonic()
    env.store.server.pause()
    await asyncio.sleep(env.schedule.hold_s)
    env.store.server.resume()
    healed = time.monotonic()
    env.churn.store_open.set()
    return Window(injected, healed)


async def _openbao_down(env: Env) -> Window:
    await env.churn.close_store()
    injected = time.monotonic()
    env.store.server.kill()
    await asyncio.sleep(env.schedule.hold_s)
    await asyncio.to_thread(env.store.server.start)  # re-seeded with what was acknowledged
    healed = time.monotonic()
    env.churn.store_open.set()
    return Window(injected, healed)


async def _leader_kill(env: Env) -> Window:
    leader, standby = await env.deployment.roles()
    injected = time.monotonic()
    leader.signal(signal.SIGKILL)
    acquired = await env.deployment.holder_is(lambda holder: holder == standby.name)
    window = Window(injected, time.monotonic(), (leader.user, standby.user, acquired))

    async def then() -> None:
        await leader.exited(10)
        await env.deployment.restart(leader)  # back as the standby, as its pod would be

    window.then = then()
    return window


async def _leader_pause(env: Env) -> Window:
    leader, standby = await env.deployment.roles()
    injected = time.monotonic()
    leader.signal(signal.SIGSTOP)
    acquired = await env.deployment.holder_is(lambda holder: holder == standby.name)
    window = Window(injected, time.monotonic(), (leader.user, standby.user, acquired))

    async def then() -> None:
        await asyncio.sleep(max(0.0, injected + env.schedule.hold_s - time.monotonic()))
        resumed = time.monotonic()
        leader.signal(signal.SIGCONT)
        # It must see the Lease lost and exit: a retry period, the renew deadline, slack.
        code = await leader.exited(env.schedule.lease[1] + 10)
        window.notes["stepped_down_s"] = None if code is None else time.monotonic() - resumed
        if code is None:
            env.log("leader-pause: the resumed leader kept running; stopping it")
            await leader.stop()
        await env.deployment.restart(leader)

    window.then = then()
    return window


FAULTS: dict[str, Callable[[Env], Awaitable[Window]]] = {
    "controller-kill": _controller_kill,
    "openbao-hang": _openbao_hang,
    "openbao-down": _openbao_down,
    "apiserver-restart": _apiserver_restart,
    "etcd-restart": _etcd_restart,
    "leader-kill": _leader_kill,
    "leader-pause": _leader_pause,
}
WHAT = {
    AT_REST: "none (at rest)",
    "controller-kill": "controller SIGKILLed, restarted {hold}s later",
    "openbao-hang": "OpenBao hung (SIGSTOP) for {hold}s",
    "openbao-down": "OpenBao killed, restarted {hold}s later",
    "apiserver-restart": "kube-apiserver stopped, restarted {hold}s later",
    "etcd-restart": "etcd stopped, restarted {hold}s later",
    "leader-kill": "leader SIGKILLed (2 replicas)",
    "leader-pause": "leader paused (SIGSTOP) for {hold}s (2 replicas)",
}
FULL = Schedule(faults=tuple(FAULTS))
FAST = Schedule(
    faults=("controller-kill", "openbao-down"),
    syncs=16,
    targets=4,
    rest_s=4.0,
    lead_s=2.0,
    hold_s=3.0,
    tail_s=4.0,
    converge_s=60.0,
)


# --- one phase per fault -----------------------------------------------------------


@dataclass
class Phase:
    fault: str
    what: str
    window_s: float
    changes_during_fault: int
    failed_writes: int
    skipped_ticks: int
    lost: int
    wrong: int
    blanked: int
    stale: int
    writes_without_lease: int | None  # leader faults only
    writes_by_new_leader: int | None
    converged_s: float | None  # None: some change never landed
    propagation: Json  # latency_summary of Kubernetes-source changes in the phase
    incidents: list[str]
    exits: list[str]
    notes: dict[str, Any]
    samples_s: list[float]

    def broken(self) -> list[str]:
        """What this phase got wrong, in words; empty when every promise held."""
        found = [
            f"{n} {what}"
            for n, what in (
                (self.lost, "lost keys"),
                (self.wrong, "wrong keys"),
                (self.blanked, "blanked keys"),
                (self.stale, "stale writes"),
                (self.writes_without_lease or 0, "writes without the Lease"),
            )
            if n
        ]
        if self.converged_s is None:
            found.append("did not converge")
        if self.notes.get("stepped_down_s", 0) is None:
            found.append("the resumed leader did not step down")
        if self.writes_by_new_leader == 0:  # the probes make it write: the log was misread
            found.append("the audit log shows no write by the new leader")
        return found + self.exits


async def _phase(env: Env, fault: str, tracks: Sequence[Track], log: TargetLog) -> Phase:
    s, churn = env.schedule, env.churn
    await env.deployment.use("ha" if fault in LEADER_FAULTS else "single")
    lead = s.rest_s / 2 if fault == AT_REST else s.lead_s
    failed, skipped, incidents = churn.failed, churn.skipped, len(log.incidents)
    started = time.monotonic()
    churn.start()
    await asyncio.sleep(lead)
    env.log(f"{fault}: injecting")
    window = await FAULTS.get(fault, _at_rest)(env)
    await churn.probe()
    probed = time.monotonic()
    if window.then is not None:
        await window.then
    await asyncio.sleep(lead if fault == AT_REST else s.tail_s)
    await churn.stop()
    stopped = time.monotonic()
    off = await _checkpoint(env, tracks)
    exits = await env.deployment.revive()
    for line in exits:
        env.log(f"{fault}: {line}")
    seen = log.incidents[incidents:]
    wrong_keys = {(i.target, i.key) for i in seen if i.kind == "foreign"}
    samples = [
        reached - at
        for t in tracks
        if not t.store
        for seq, at, probe in t.acks
        if started <= at < stopped and not probe and (reached := t.reached(seq)) is not None
    ]
    writes = _lease_writes(env.audit, window.lease)
    converged, window.notes["slowest"] = _converged(tracks, window.healed, probed)
    return Phase(
        fault=fault,
        what=WHAT[fault].format(hold=f"{s.hold_s:g}"),
        window_s=round(window.healed - window.injected, 3),
        changes_during_fault=sum(
            1 for t in tracks for _, at, _ in t.acks if window.injected <= at < window.healed
        ),
        failed_writes=churn.failed - failed,
        skipped_ticks=churn.skipped - skipped,
        lost=sum(1 for verdict, _ in off.values() if verdict == "lost"),
        wrong=len(wrong_keys | {k for k, (verdict, _) in off.items() if verdict == "wrong"}),
        blanked=len({(i.target, i.key) for i in seen if i.kind == "blanked"}),
        stale=sum(1 for i in seen if i.kind == "stale"),
        writes_without_lease=len(writes[0]) if writes else None,
        writes_by_new_leader=writes[1] if writes else None,
        converged_s=converged,
        propagation=latency_summary(samples),
        incidents=[f"{i.kind} {i.target}/{i.key}: {i.detail}" for i in seen]
        + [f"the old leader wrote without the Lease: {w}" for w in (writes or ([], 0))[0]]
        + [f"{verdict} {t}/{k} at the end: {why}" for (t, k), (verdict, why) in off.items()],
        exits=exits,
        notes=window.notes,
        samples_s=[round(x, 6) for x in samples],
    )


def _converged(tracks: Sequence[Track], healed: float, probed: float) -> tuple[float | None, str]:
    """Seconds from `healed` until every key held what its source had when probed, and the
    key that took longest (or never got there)."""
    latest, slowest = 0.0, ""
    for track in tracks:
        reached = track.reached(track.acked(probed))
        if reached is None:
            return None, f"{track.target}/{track.key}"
        if reached - healed > latest:
            latest, slowest = reached - healed, f"{track.target}/{track.key}"
    return round(latest, 3), slowest


async def _checkpoint(env: Env, tracks: Sequence[Track]) -> dict[Where, tuple[str, str]]:
    """With the load stopped: the keys still off (see `classify`) once none is, or at the bound."""
    namespace = env.deployment.namespace
    sources, _ = await env.kube.list(
        SECRETS.path(namespace), params={"labelSelector": f"{workload.ROLE}=source"}
    )
    by_name = {s["metadata"]["name"]: (s.get("data") or {}).get("value") for s in sources}
    layout = env.churn.sources.layout
    truth: dict[Where, str | None] = {}
    for track in tracks:
        if track.store:
            value = await asyncio.to_thread(env.store.read, store_path(track.index))
            truth[track.target, track.key] = base64.b64encode(value.encode()).decode()
        else:
            truth[track.target, track.key] = by_name.get(layout.source(track.index))
    deadline = time.monotonic() + env.schedule.converge_s
    while True:
        items, _ = await env.kube.list(
            SECRETS.path(namespace), params={"labelSelector": f"{workload.ROLE}=target"}
        )
        held = {
            (item["metadata"]["name"], name): data
            for item in items
            for name, data in (item.get("data") or {}).items()
        }
        off = classify(truth, held)
        if not off or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.25)
    for where, (verdict, why) in off.items():  # what the controller says about each
        index = next(t.index for t in tracks if (t.target, t.key) == where)
        sync = await env.kube.get(
            SECRET_SYNCS.path(namespace, layout.sync(index)["metadata"]["name"])
        )
        conditions = (sync.get("status") or {}).get("conditions") or []
        ready: dict[str, str] = next((c for c in conditions if c["type"] == "Ready"), {})
        said = f"Ready={ready.get('status')} {ready.get('reason')}: {ready.get('message')}"
        off[where] = (verdict, f"{why}; its SecretSync says {said}")
    return off


def classify(
    truth: Mapping[Where, str | None], held: Mapping[Where, str]
) -> dict[Where, tuple[str, str]]:
    """Keys not at their source's value: ("lost", why) when missing or at an older value of
    their source, ("wrong", why) for anything else; why names sequence numbers, never values."""
    found: dict[Where, tuple[str, str]] = {}
    for where, want in truth.items():
        value = held.get(where)
        if value == want:
            continue
        have, should = parse(value or ""), parse(want or "")
        seqs = f"holds {have[1] if have else '-'}, its source {should[1] if should else '-'}"
        if not value:
            found[where] = ("lost", "missing")
        elif have and should and (have[0], have[2]) == (should[0], should[2]):
            found[where] = ("lost" if have[1] < should[1] else "wrong", seqs)
        else:
            found[where] = ("wrong", f"{seqs}, not a value of this source")
    return found


def _lease_writes(
    audit: Path | None, lease: tuple[str, str, str] | None
) -> tuple[list[str], int] | None:
    """The old leader's writes the API server received after the new one acquired the
    Lease (what, and how long after), and how many writes the new leader made since."""
    if lease is None:
        return None
    if audit is None:
        raise ValueError("leader faults need the API server's audit log")
    old, new, acquired = lease
    since = kubetime.parse(acquired)
    if since is None:
        raise ValueError(f"the Lease's acquireTime {acquired!r} is not a Kubernetes time")
    late, by_new = [], 0
    for line in audit.read_text().splitlines():
        entry = json.loads(line)
        user, received = (
            entry["user"]["username"],
            kubetime.parse(entry["requestReceivedTimestamp"]),
        )
        if (
            user in (old, new)
            and entry["stage"] == "ResponseComplete"
            and entry["verb"] in ("create", "update", "patch", "delete")
            and entry.get("responseStatus", {}).get("code", 500) < 300
            and received is not None
            and received > since
        ):
            if user == new:
                by_new += 1
                continue
            ref = entry["objectRef"]
            what = "/".join(
                filter(None, (ref["resource"], ref.get("name"), ref.get("subresource")))
            )
            late.append(f"{entry['verb']} {what}, {(received - since).total_seconds():.3f}s after")
    return late, by_new


# --- set-up ------------------------------------------------------------------------


AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {
            "level": "Metadata",  # who wrote what, when: never a value
            "verbs": ["create", "update", "patch", "delete"],
            "resources": [{"group": "", "resources": ["secrets"]}, {"group": "secretloom.io"}],
        },
        {"level": "None"},
    ],
}


def audit_args(scratch: Path) -> tuple[tuple[str, ...], Path]:
    """kube-apiserver flags for a metadata-only audit log of writes; and where it goes."""
    policy, path = scratch / "audit-policy.yaml", scratch / "audit.log"
    policy.write_text(yaml.safe_dump(AUDIT_POLICY))
    return (f"--audit-policy-file={policy}", f"--audit-log-path={path}"), path


async def _replicas(
    kube: KubeClient, cluster: local.Cluster, namespace: str, scratch: Path
) -> list[Replica]:
    """Two ServiceAccounts bound to the shipped Role, each with its own kubeconfig."""
    role, binding = yaml.safe_load_all(ROLE_FILE.read_text())
    role["metadata"]["namespace"] = binding["metadata"]["namespace"] = namespace
    binding["subjects"] = [
        {"kind": "ServiceAccount", "name": name, "namespace": namespace} for name in REPLICAS
    ]
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces"
    for obj, plural in ((role, "roles"), (binding, "rolebindings")):
        path = f"{rbac}/{namespace}/{plural}/{obj['metadata']['name']}"
        await kube.apply(path, obj, field_manager="chaos")
    replicas = []
    for name in REPLICAS:
        await kube.apply(
            SERVICE_ACCOUNTS.path(namespace, name),
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
            field_manager="chaos",
        )
        minted = await kube.create(
            SERVICE_ACCOUNTS.path(namespace, name) + "/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
             "spec": {"expirationSeconds": 6 * 3600}},
        )  # fmt: skip
        kubeconfig = scratch / f"{name}.kubeconfig"
        token = minted["status"]["token"]
        local._write_kubeconfig(kubeconfig, cluster.server, cluster.ca_cert, name, token)
        user = f"system:serviceaccount:{namespace}:{name}"
        replicas.append(Replica(name, user, kubeconfig, scratch))
    return replicas


async def _objects(
    kube: KubeClient, namespace: str, s: Schedule, store: Store
) -> tuple[workload.Sources, list[Track]]:
    """Targets, sources, the SecretStore and the SecretSyncs; the Tracks of every key."""
    layout = workload.Layout(namespace, s.syncs, s.targets)
    sources = await workload.seed(kube, layout, syncs=False)
    tracks = []
    for i, value in enumerate(sources.current):
        found = parse(value)
        assert found is not None
        tracks.append(Track(layout.target(i), layout.key(i), i, store=False, attempted={found[1]}))
    token = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "bao-token", "namespace": namespace},
        "data": {"token": workload.b64(store.server.root_token)},
    }
    await kube.apply(SECRETS.path(namespace, "bao-token"), token, field_manager="chaos")
    store_spec = {
        "provider": {
            "vault": {
                "server": store.server.address,
                "path": MOUNT,
                "version": "v2",
                "auth": {"tokenSecretRef": {"name": "bao-token", "key": "token"}},
            }
        }
    }
    stores = f"/apis/secretloom.io/v1alpha1/namespaces/{namespace}/secretstores/{STORE}"
    await kube.apply(
        stores,
        {"apiVersion": "secretloom.io/v1alpha1", "kind": "SecretStore",
         "metadata": {"name": STORE, "namespace": namespace}, "spec": store_spec},
        field_manager="kubectl",
    )  # fmt: skip
    bodies = []
    for i in range(s.syncs):
        body = layout.sync(i)
        if i % s.store_every == 0:
            key = f"b-{i:04d}"
            body["spec"]["data"].append(
                {"key": key, "from": {"store": {"name": STORE}, "path": store_path(i),
                                      "property": "v"}}
            )  # fmt: skip
            body["spec"]["refreshInterval"] = s.refresh
            tracks.append(Track(layout.target(i), key, i, store=True, attempted={i}))
        bodies.append(body)
    await workload.bulk(
        [
            lambda b=b: kube.apply(  # type: ignore[misc]
                SECRET_SYNCS.path(namespace, b["metadata"]["name"]), b, field_manager="kubectl"
            )
            for b in bodies
        ],
        16,
    )
    return sources, tracks


@dataclass
class Run:
    schedule: Schedule
    phases: list[Phase]
    relists: int


async def run(
    *,
    kube: KubeClient,
    cluster: local.Cluster,
    namespace: str,
    scratch: Path,
    schedule: Schedule,
    audit: Path | None = None,
    log: Log = print,
) -> Run:
    """The at-rest phase, then one phase per fault of `schedule`, on objects in `namespace`."""
    store = Store(scratch / "openbao")
    # A store key's first value has its index as sequence number (see _objects).
    store.durable = {
        store_path(i): stamp(i, i, "bao") for i in range(0, schedule.syncs, schedule.store_every)
    }
    with store.server:
        sources, tracks = await _objects(kube, namespace, schedule, store)
        replicas = await _replicas(kube, cluster, namespace, scratch)
        deployment = Deployment(kube, namespace, replicas, schedule)
        targets = TargetLog(kube, namespace, tracks)
        churn = Churn(sources, store, tracks, schedule)
        env = Env(kube, cluster, store, churn, deployment, schedule, audit, log)
        try:
            await deployment.use("single")
            await workload.wait_synced(kube, sources.layout, schedule.converge_s)
            await targets.start()
            phases = []
            for fault in (AT_REST, *schedule.faults):
                phase = await _phase(env, fault, tracks, targets)
                log(f"{fault}: {_brief(phase)}")
                phases.append(phase)
        finally:
            await churn.stop()
            await targets.stop()
            await deployment.stop()
            store.server.resume()
    return Run(schedule, phases, targets.relists)


def _brief(phase: Phase) -> str:
    broken = phase.broken()
    p99 = phase.propagation.get("p99_ms")
    return (
        f"{phase.changes_during_fault} changes during the fault, converged in "
        f"{phase.converged_s}s, p99 {p99} ms; " + ("; ".join(broken) if broken else "all held")
    )


# --- results -----------------------------------------------------------------------


def summarize(result: Run) -> tuple[Json, Json, list[Target]]:
    """(samples, summary, targets) for bench/results/chaos.json."""
    phases = [
        {k: v for k, v in dataclasses.asdict(p).items() if k != "samples_s"} for p in result.phases
    ]
    at_rest = next(p for p in result.phases if p.fault == AT_REST)
    faults = [p for p in result.phases if p.fault != AT_REST]
    leader = [p.writes_without_lease for p in faults if p.writes_without_lease is not None]
    summary = {
        "phases": phases,
        "at_rest_p99_ms": at_rest.propagation.get("p99_ms"),
        "watch_relists": result.relists,
    }
    name = "churn with faults"
    targets = [
        Target.exactly(f"{name}: {what}", sum(getattr(p, attr) for p in result.phases), 0, "keys")
        for what, attr in (("lost keys", "lost"), ("wrong keys", "wrong"),
                           ("blanked keys", "blanked"))
    ]  # fmt: skip
    targets += [
        Target.exactly(f"{name}: stale writes", sum(p.stale for p in result.phases), 0, "writes"),
        Target.exactly(f"{name}: faults not converged",
                       sum(p.converged_s is None for p in result.phases), 0, "faults"),
        Target.exactly(f"{name}: writes without the Lease", sum(leader), 0, "writes")
        if leader
        else Target.not_run(f"{name}: writes without the Lease", "=", 0, "writes",
                            "no leader fault in this run"),
    ]  # fmt: skip
    samples = {p.fault: p.samples_s for p in result.phases}
    return samples, summary, targets


def _log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def _main(schedule: Schedule, scratch: Path, out_dir: Path) -> bool:
    started, machine = time.monotonic(), record.machine()
    args, audit = audit_args(scratch)
    with local.running(scratch / "cp", die_with_parent=True, apiserver_args=args) as cp:
        async with KubeClient.from_kubeconfig(cp.kubeconfig, qps=0) as kube:
            await crds.install(kube, admission.bundle())
            versions = {
                "kube-apiserver": (await kube.get("/version")).get("gitVersion", "unknown"),
                "etcd": _first_line(str(cp.bin_dir / "etcd"), "--version").rsplit(" ", 1)[-1],
                "source": _source(),
            }
            namespace = "chaos"
            result = await run(
                kube=kube,
                cluster=cp,
                namespace=namespace,
                scratch=scratch,
                schedule=schedule,
                audit=audit,
                log=_log,
            )
    samples, summary, targets = summarize(result)
    record.write(
        "chaos",
        out_dir=out_dir,
        machine_info=machine,
        versions=versions,
        parameters=schedule.json(),
        samples=samples,
        summary=summary,
        targets=targets,
        started=started,
    )
    return all(t.met is not False for t in targets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fault",
        choices=tuple(FAULTS),
        action="append",
        help="run only this fault (repeatable); results go to a scratch directory, "
        "never over bench/results or docs/",
    )
    args = parser.parse_args()
    schedule = dataclasses.replace(FULL, faults=tuple(args.fault)) if args.fault else FULL
    started = time.monotonic()
    if args.fault:
        out_dir = Path(tempfile.mkdtemp(prefix="secretloom-chaos-"))
        docs = out_dir / "benchmarks.md"
    else:
        out_dir, docs = record.RESULTS, report.DOCS / "benchmarks.md"
    scratch = Path(tempfile.mkdtemp(prefix="secretloom-chaos-run-"))
    held = asyncio.run(_main(schedule, scratch, out_dir))
    report.write(out_dir, docs, docs.parent / "img")
    print(report.chaos_table(record.load(out_dir / "chaos.json")))
    print(f"\nresults in {out_dir}, report {docs} ({time.monotonic() - started:.0f}s)")
    if not held:  # the controllers' and OpenBao's logs say why
        sys.exit(f"churn with faults: a promise broke (the table above; logs in {scratch})")
    shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
