"""The objects a benchmark creates, the changes it makes, and how it sees them land.

Layout: in one namespace, source `src-i` (written by `bench-writer`, key
`value` plus an unreferenced key `other`) feeds key `k-i` of target
`tgt-(i mod targets)`. One target per source is the plain case; 100 sources
into 10 targets is the shared-target case (ten writers per Secret, each owning
its key through server-side apply). Targets are created first as empty shells
by `helm`, as in the Argo CD Notifications setup the project starts from, and
carry the label `bench.secretloom.io/role=target` so one watch sees them all.
secretloom gets a SecretSync per source; the floor gets the same mapping as
a file. The two run in separate namespaces with identical contents.

Measurement is by the API server's own watch stream, in this process:

* `TargetWatch` watches every target; each event is one write. A change is
  registered (`expect`) before its update is sent; its latency is from the
  update's response to the first target event carrying the new value, both
  read on this process's clock. (If that event is read before the response,
  the latency comes out slightly negative and is kept as measured.)
* `barrier()` writes an annotation on a sentinel Secret that the same watch
  sees; once it arrives, every earlier target write has arrived too (one
  watch delivers in resourceVersion order). Write counts are read at
  barriers, so none is missed or counted in the wrong phase.

Load:

* `steady`: changes at a fixed rate to random sources, on an absolute
  schedule (a slow response never delays the next change). A source whose
  previous change has not landed yet is not picked, so every change is
  effective and has exactly one sample; at N = 1 a tick waits for the one
  source to be free (counted in `delayed`).
* `burst`: `count` changes sent at once (bounded concurrency), round-robin
  over sources; changes to one source are sent in order, so its final value
  is known. Converged when every target holds every final value.
* `noise`: updates that change only the unreferenced key: no target write is
  the right answer.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from secretloom.api.crd import SECRET_SYNC
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.resources import NAMESPACES, SECRET_SYNCS, SECRETS

ROLE = "bench.secretloom.io/role"
WRITER = "bench-writer"
SENTINEL = "bench-sentinel"
VALUE_BYTES = 48  # a token-sized value


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


@dataclass(frozen=True)
class Layout:
    namespace: str
    syncs: int
    targets: int

    def source(self, i: int) -> str:
        return f"src-{i:04d}"

    def target(self, i: int) -> str:
        return f"tgt-{i % self.targets:04d}"

    def key(self, i: int) -> str:
        return f"k-{i:04d}"

    def mapping(self) -> dict[str, Obj]:
        """What the floor reads: source -> target, key."""
        return {
            self.source(i): {"target": self.target(i), "key": self.key(i), "sourceKey": "value"}
            for i in range(self.syncs)
        }

    def sync(self, i: int) -> Obj:
        return {
            "apiVersion": SECRET_SYNC.api_version,
            "kind": SECRET_SYNC.kind,
            "metadata": {"name": f"sync-{i:04d}", "namespace": self.namespace},
            "spec": {
                "target": {"name": self.target(i)},
                "data": [{"key": self.key(i), "from": {"secret": self.source(i), "key": "value"}}],
            },
        }


async def bulk(jobs: Iterable[Callable[[], Awaitable[object]]], concurrency: int) -> None:
    """Run `jobs` with at most `concurrency` in flight."""
    pending = iter(jobs)

    async def lane() -> None:
        for job in pending:
            await job()

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(lane())


def _secret(namespace: str, name: str, data: dict[str, str], labels: dict[str, str]) -> Obj:
    body: Obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "type": "Opaque",
    }
    if data:
        body["data"] = data
    return body


class Sources:
    """The source Secrets of one layout and the value each holds now."""

    def __init__(self, kube: KubeClient, layout: Layout) -> None:
        self.kube = kube
        self.layout = layout
        self._seq = itertools.count()
        self.current = [self.new_value(i) for i in range(layout.syncs)]
        self.other = ["-"] * layout.syncs

    def new_value(self, i: int) -> str:
        stamp = f"{i}-{next(self._seq):09d}-"
        return b64(stamp + "x" * (VALUE_BYTES - len(stamp)))

    async def put(self, i: int, *, value: str | None = None, other: str | None = None) -> None:
        """Apply source i with `value` (base64) and/or `other` changed."""
        if value is not None:
            self.current[i] = value
        if other is not None:
            self.other[i] = other
        ns, name = self.layout.namespace, self.layout.source(i)
        body = _secret(
            ns, name, {"value": self.current[i], "other": b64(self.other[i])}, {ROLE: "source"}
        )
        await self.kube.apply(SECRETS.path(ns, name), body, field_manager=WRITER, force=True)


async def seed(kube: KubeClient, layout: Layout, *, syncs: bool, concurrency: int = 16) -> Sources:
    """Namespace, target shells, sources and (for secretloom) SecretSyncs."""
    ns = layout.namespace
    try:
        await kube.create(NAMESPACES.path(), {"metadata": {"name": ns}})
    except ApiError as err:
        if err.status != 409:
            raise
    role = {ROLE: "target"}

    def shell(name: str) -> Callable[[], Awaitable[object]]:
        body = _secret(ns, name, {}, role)
        return lambda: kube.apply(SECRETS.path(ns, name), body, field_manager="helm", force=True)

    await bulk(
        [shell(SENTINEL), *(shell(layout.target(i)) for i in range(layout.targets))], concurrency
    )
    sources = Sources(kube, layout)
    await bulk([lambda i=i: sources.put(i) for i in range(layout.syncs)], concurrency)  # type: ignore[misc]
    if syncs:

        def sync(i: int) -> Callable[[], Awaitable[object]]:
            body = layout.sync(i)
            path = SECRET_SYNCS.path(ns, body["metadata"]["name"])
            return lambda: kube.apply(path, body, field_manager="kubectl", force=True)

        await bulk([sync(i) for i in range(layout.syncs)], concurrency)
    return sources


async def unrelated(
    kube: KubeClient, namespace: str, count: int, size: int, concurrency: int = 16
) -> None:
    """`count` Secrets nothing references, `size` bytes of data each."""
    blob = base64.b64encode(random.randbytes(size)).decode()

    def create(i: int) -> Callable[[], Awaitable[object]]:
        body = _secret(namespace, f"unrelated-{i:05d}", {"blob": blob}, {ROLE: "unrelated"})
        return lambda: kube.create(SECRETS.path(namespace), body)

    await bulk([create(i) for i in range(count)], concurrency)


async def wait_synced(kube: KubeClient, layout: Layout, timeout: float) -> None:
    """Until every SecretSync reports Ready=True for its current generation."""
    deadline = time.monotonic() + timeout
    while True:
        items, _ = await kube.list(SECRET_SYNCS.path(layout.namespace))
        ready = sum(1 for item in items if _ready(item))
        if ready == layout.syncs:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{ready}/{layout.syncs} SecretSyncs Ready after {timeout:.0f}s")
        await asyncio.sleep(0.5)


def _ready(sync: Obj) -> bool:
    generation = sync["metadata"].get("generation")
    for cond in (sync.get("status") or {}).get("conditions") or []:
        if cond["type"] == "Ready":
            return bool(cond["status"] == "True" and cond.get("observedGeneration") == generation)
    return False


@dataclass(slots=True)
class Expectation:
    """A value that should arrive in one key of one target."""

    target: str
    key: str
    value: str
    sent_at: float | None = None
    seen_at: float | None = None

    @property
    def latency(self) -> float | None:
        if self.sent_at is None or self.seen_at is None:
            return None
        return self.seen_at - self.sent_at


class EventCount:
    """Counts watch events on a collection (e.g. SecretSync status writes)."""

    def __init__(self, kube: KubeClient, path: str, selector: str | None = None) -> None:
        self.kube = kube
        self.path = path
        self.params = {"labelSelector": selector} if selector else None
        self.count = 0
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def start(self) -> None:
        items, version = await self.kube.list(self.path, params=self.params)
        self.initial(items)
        self._task = asyncio.create_task(self._run(version))

    def initial(self, items: list[Obj]) -> None:
        del items

    async def _run(self, version: str) -> None:
        while True:
            async for event in self.kube.watch(
                self.path, resource_version=version, params=self.params
            ):
                obj = event["object"]
                version = obj["metadata"]["resourceVersion"]
                if event["type"] != "BOOKMARK":
                    self.on_event(obj, time.perf_counter())
                    self._changed.set()

    def on_event(self, obj: Obj, now: float) -> None:
        del obj, now
        self.count += 1

    async def changed(self, timeout: float) -> None:
        self._changed.clear()
        if self._task is not None and self._task.done():
            self._task.result()  # surface a broken watch
        await asyncio.wait_for(self._changed.wait(), timeout)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class TargetWatch(EventCount):
    """Every write to the targets of one namespace, and when each expected value arrived."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        super().__init__(kube, SECRETS.path(namespace), f"{ROLE}=target")
        self.namespace = namespace
        self.write_times: list[float] = []
        self._expected: dict[tuple[str, str], Expectation] = {}
        self._pings: dict[str, asyncio.Future[float]] = {}
        self._ping_seq = itertools.count()

    def initial(self, items: list[Obj]) -> None:
        self.current = {item["metadata"]["name"]: item.get("data") or {} for item in items}

    def on_event(self, obj: Obj, now: float) -> None:
        meta = obj["metadata"]
        name = meta["name"]
        if name == SENTINEL:
            ping = (meta.get("annotations") or {}).get("bench.secretloom.io/ping", "")
            future = self._pings.pop(ping, None)
            if future is not None and not future.done():
                future.set_result(now)
            return
        self.count += 1
        self.write_times.append(now)
        data = obj.get("data") or {}
        self.current[name] = data
        for key, value in data.items():
            expected = self._expected.get((name, key))
            if expected is not None and expected.value == value:
                expected.seen_at = now
                del self._expected[(name, key)]

    def expect(self, target: str, key: str, value: str) -> Expectation:
        expectation = Expectation(target, key, value)
        self._expected[(target, key)] = expectation
        return expectation

    def busy(self, target: str, key: str) -> bool:
        return (target, key) in self._expected

    @property
    def pending(self) -> int:
        return len(self._expected)

    async def settle(self, timeout: float) -> int:
        """Wait until every expected value has arrived; returns how many never did."""
        deadline = time.monotonic() + timeout
        while self._expected and time.monotonic() < deadline:
            try:
                await self.changed(max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
        return len(self._expected)

    def forget(self) -> None:
        self._expected.clear()

    async def barrier(self, timeout: float = 30.0) -> None:
        """Returns once every target write made before the call has been counted."""
        token = f"p{next(self._ping_seq)}-{time.monotonic_ns()}"
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._pings[token] = future
        body = _secret(self.namespace, SENTINEL, {}, {ROLE: "target"})
        body["metadata"]["annotations"] = {"bench.secretloom.io/ping": token}
        await self.kube.apply(
            SECRETS.path(self.namespace, SENTINEL), body, field_manager="bench-ping", force=True
        )
        if self._task is not None and self._task.done():
            self._task.result()
        await asyncio.wait_for(future, timeout)


@dataclass
class Steady:
    sent: int = 0
    delayed: int = 0
    unlanded: int = 0
    stalled: bool = False
    duration_s: float = 0.0
    samples_s: list[float] = field(default_factory=list)


async def steady(
    sources: Sources,
    watch: TargetWatch,
    *,
    rate: float,
    duration: float,
    rng: random.Random,
    settle: float = 30.0,
) -> Steady:
    layout = sources.layout
    result = Steady()
    expectations: list[Expectation] = []
    tasks: set[asyncio.Task[None]] = set()

    async def send(i: int, expectation: Expectation) -> None:
        await sources.put(i, value=expectation.value)
        expectation.sent_at = time.perf_counter()

    start = time.perf_counter()
    for tick in itertools.count():
        due = start + tick / rate
        if due - start >= duration:
            break
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        i = rng.randrange(layout.syncs)
        while watch.busy(layout.target(i), layout.key(i)):
            free = [
                j for j in range(layout.syncs) if not watch.busy(layout.target(j), layout.key(j))
            ]
            if free:
                i = rng.choice(free)
                break
            result.delayed += 1
            try:
                await watch.changed(settle)
            except TimeoutError:
                result.stalled = True  # nothing lands any more: end the phase, report it
                break
        if result.stalled:
            break
        expectation = watch.expect(layout.target(i), layout.key(i), sources.new_value(i))
        expectations.append(expectation)
        task = asyncio.create_task(send(i, expectation))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    result.duration_s = time.perf_counter() - start
    result.unlanded = await watch.settle(settle)
    watch.forget()
    result.sent = len(expectations)
    result.samples_s = [e.latency for e in expectations if e.latency is not None]
    return result


@dataclass
class Burst:
    updates: int = 0
    sent_s: float = 0.0  # until the last update's response
    converged_s: float | None = None  # until every target held every final value
    unlanded: int = 0


async def burst(
    sources: Sources, watch: TargetWatch, *, count: int, concurrency: int, settle: float = 120.0
) -> Burst:
    layout = sources.layout
    chains: dict[int, list[str]] = {}
    for n in range(count):
        i = n % layout.syncs
        chains.setdefault(i, []).append(sources.new_value(i))
    finals = [
        watch.expect(layout.target(i), layout.key(i), chain[-1]) for i, chain in chains.items()
    ]

    def chain(i: int, values: list[str]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            for value in values:
                await sources.put(i, value=value)

        return run

    start = time.perf_counter()
    await bulk([chain(i, values) for i, values in chains.items()], concurrency)
    sent = time.perf_counter() - start
    unlanded = await watch.settle(settle)
    watch.forget()
    seen = [e.seen_at for e in finals if e.seen_at is not None]
    converged = max(seen) - start if seen and not unlanded else None
    return Burst(updates=count, sent_s=sent, converged_s=converged, unlanded=unlanded)


async def noise(sources: Sources, *, count: int, rng: random.Random) -> None:
    """Change only the key nothing references, on `count` random sources."""
    for n in range(count):
        await sources.put(rng.randrange(sources.layout.syncs), other=f"noise-{n}")
