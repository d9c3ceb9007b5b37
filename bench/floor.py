"""The floor: the least a program can do to copy source Secrets into targets.

`python -m bench.floor --kubeconfig K --namespace NS --mapping M.json` is the
comparison every secretloom number is held against: a hand-written loop on the
same raw client (`secretloom.runtime.kube.KubeClient`), with no informer, no
cache, no work queue, no status and no conflict handling. It

1. lists the source Secrets (label `bench.secretloom.io/role=source`), applies
   each one's value into its target once, and prints `ready` on stdout;
2. watches the sources from the list's resourceVersion (so nothing between the
   list and the watch is missed) and turns every ADDED/MODIFIED event into one
   server-side apply of `{data: {<key>: <value>}}` to the target, as field
   manager `floor/<source>`, forced.

Applies run on `--workers` tasks (as many as the controller's workers, so
both may have the same number of requests in flight); events are sharded by
source name onto per-worker FIFO queues, so the applies for one source keep
the watch's order and the last value written is always the newest. Nothing is
coalesced or skipped: every event costs one request. That is what makes it a
floor for latency (no queueing, no reads) and a fair bar for throughput (the
same concurrency), and why it may write more often than secretloom when a
source changes faster than its target is written.

It runs as its own process, like the controller, so both pay the same
interpreter start, event-loop and HTTP costs and their RSS and CPU compare.

`--namespaces a,b,...` (instead of `--namespace`) runs the same loop over many
namespaces with one mapping (bench/workload.py's Layout names every namespace
alike) on one process and one set of `--workers` (bench/scale.py, issue 17):
one list + watch per namespace, all feeding the same per-worker queues, and
the initial pass runs on the workers too, so the process never has more
requests in flight than the controller with the same `--workers`.

`--coalesce` is the other floor, the one fan-in is held against (issue 17, item
0: many sources into one target): one field manager per *target*
(`floor/<target>`), at most one apply in flight per target, and each apply
carries every key of that target as last seen, so whatever changed while an
apply was in flight goes out together in the next one. Because one manager owns
all the keys, every apply is the whole data of the target (a key left out of a
manager's apply would be removed); an event that changes no routed value costs
nothing. Targets are written concurrently, at most `--workers` at a time. It
says nothing about who owns a key: that is the trade-off it stands for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import zlib
from pathlib import Path

from secretloom.runtime.kube import Gone, KubeClient, Obj
from secretloom.runtime.resources import SECRETS

SOURCE_SELECTOR = "bench.secretloom.io/role=source"


class Floor:
    def __init__(self, client: KubeClient, namespace: str, mapping: dict[str, Obj]) -> None:
        self._client = client
        self._namespace = namespace
        self._mapping = mapping  # source name -> {"target", "key", "sourceKey"}

    async def apply(self, source: Obj) -> None:
        name = source["metadata"]["name"]
        route = self._mapping.get(name)
        value = (source.get("data") or {}).get(route["sourceKey"]) if route else None
        if route is None or value is None:
            return
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": route["target"], "namespace": self._namespace},
            "data": {route["key"]: value},
        }
        path = SECRETS.path(self._namespace, route["target"])
        await self._client.apply(path, body, field_manager=f"floor/{name}", force=True)

    async def run(self, workers: int) -> None:
        path = SECRETS.path(self._namespace)
        selector = {"labelSelector": SOURCE_SELECTOR}
        items, version = await self._client.list(path, params=selector)
        queues: list[asyncio.Queue[Obj]] = [asyncio.Queue() for _ in range(workers)]
        async with asyncio.TaskGroup() as group:
            for queue in queues:
                group.create_task(self._drain(queue))
            for item in items:
                await self.apply(item)
            print("ready", flush=True)
            await self.feed(queues, version)

    async def feed(self, queues: list[asyncio.Queue[Obj]], version: str) -> None:
        """Watch this namespace's sources from `version`; every event onto its worker's queue."""
        path = SECRETS.path(self._namespace)
        selector = {"labelSelector": SOURCE_SELECTOR}
        workers = len(queues)
        while True:
            try:
                async for event in self._client.watch(
                    path, resource_version=version, params=selector
                ):
                    obj = event["object"]
                    version = obj["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED"):
                        queues[_shard(obj, workers)].put_nowait(obj)
            except Gone:  # missed events: the current state of every source instead
                items, version = await self._client.list(path, params=selector)
                for item in items:
                    queues[_shard(item, workers)].put_nowait(item)

    async def _drain(self, queue: asyncio.Queue[Obj]) -> None:
        while True:
            await self.apply(await queue.get())


class Coalescer:
    """`--coalesce`: one field manager and at most one apply in flight per target."""

    def __init__(self, client: KubeClient, namespace: str, mapping: dict[str, Obj]) -> None:
        self._client = client
        self._namespace = namespace
        self._mapping = mapping
        self._data: dict[str, dict[str, str]] = {}  # target -> key -> latest value
        self._dirty: set[str] = set()  # targets changed since their last apply began
        self._flushing: set[str] = set()  # targets with a flush task running

    def note(self, source: Obj) -> str | None:
        """Record a source's routed value; the target to write if it changed, else None."""
        route = self._mapping.get(source["metadata"]["name"])
        value = (source.get("data") or {}).get(route["sourceKey"]) if route else None
        if route is None or value is None:
            return None
        data = self._data.setdefault(route["target"], {})
        if data.get(route["key"]) == value:
            return None
        data[route["key"]] = value
        self._dirty.add(route["target"])
        return str(route["target"])

    async def apply(self, target: str) -> None:
        self._dirty.discard(target)
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": target, "namespace": self._namespace},
            "data": dict(self._data[target]),
        }
        path = SECRETS.path(self._namespace, target)
        await self._client.apply(path, body, field_manager=f"floor/{target}", force=True)

    async def _flush(self, target: str, gate: asyncio.Semaphore) -> None:
        try:
            while target in self._dirty:
                async with gate:
                    await self.apply(target)
        finally:
            self._flushing.discard(target)

    async def run(self, workers: int) -> None:
        path = SECRETS.path(self._namespace)
        selector = {"labelSelector": SOURCE_SELECTOR}
        gate = asyncio.Semaphore(workers)
        items, version = await self._client.list(path, params=selector)
        for item in items:
            self.note(item)
        for target in sorted(self._dirty):
            await self.apply(target)
        print("ready", flush=True)
        async with asyncio.TaskGroup() as group:
            while True:
                try:
                    async for event in self._client.watch(
                        path, resource_version=version, params=selector
                    ):
                        obj = event["object"]
                        version = obj["metadata"]["resourceVersion"]
                        if event["type"] in ("ADDED", "MODIFIED"):
                            self._start([obj], group, gate)
                except Gone:  # missed events: the current state of every source instead
                    items, version = await self._client.list(path, params=selector)
                    self._start(items, group, gate)

    def _start(self, sources: list[Obj], group: asyncio.TaskGroup, gate: asyncio.Semaphore) -> None:
        for source in sources:
            target = self.note(source)
            if target is not None and target not in self._flushing:
                self._flushing.add(target)
                group.create_task(self._flush(target, gate))


async def run_many(
    client: KubeClient, namespaces: list[str], mapping: dict[str, Obj], workers: int
) -> None:
    """The floor over `namespaces`: one watch each, `workers` shared appliers (see above)."""
    floors = {ns: Floor(client, ns, mapping) for ns in namespaces}
    queues: list[asyncio.Queue[Obj]] = [asyncio.Queue() for _ in range(workers)]

    async def drain(queue: asyncio.Queue[Obj]) -> None:
        while True:
            obj = await queue.get()
            try:
                await floors[obj["metadata"]["namespace"]].apply(obj)
            finally:
                queue.task_done()

    selector = {"labelSelector": SOURCE_SELECTOR}
    async with asyncio.TaskGroup() as group:
        for queue in queues:
            group.create_task(drain(queue))
        versions = {}
        for ns in namespaces:
            items, versions[ns] = await client.list(SECRETS.path(ns), params=selector)
            for item in items:
                queues[_shard(item, workers)].put_nowait(item)
        for queue in queues:
            await queue.join()
        print("ready", flush=True)
        for ns, floor in floors.items():
            group.create_task(floor.feed(queues, versions[ns]))


def _shard(obj: Obj, workers: int) -> int:
    return zlib.crc32(obj["metadata"]["name"].encode()) % workers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, required=True)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--namespace")
    where.add_argument("--namespaces", help="comma-separated: one process over all of them")
    parser.add_argument("--mapping", type=Path, required=True, help="JSON: source -> route")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--qps", type=float, default=50.0)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument(
        "--coalesce",
        action="store_true",
        help="one field manager per target, one apply in flight per target (see above)",
    )
    args = parser.parse_args()
    mapping = json.loads(args.mapping.read_text())

    async def run() -> None:
        async with KubeClient.from_kubeconfig(
            args.kubeconfig, qps=args.qps, burst=args.burst
        ) as client:
            if args.namespaces:
                spaces = [ns for ns in args.namespaces.split(",") if ns]
                await run_many(client, spaces, mapping, args.workers)
            else:
                floor = Coalescer if args.coalesce else Floor
                await floor(client, args.namespace, mapping).run(args.workers)

    asyncio.run(run())


if __name__ == "__main__":
    main()
