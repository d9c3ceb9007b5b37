"""A reconcile that never returns fails /healthz; /readyz stays about the caches."""

from __future__ import annotations

import asyncio

import httpx2 as httpx

from secretloom.runtime import metrics
from secretloom.runtime.queue import WorkQueue
from secretloom.runtime.reconcile import Controller, Result
from secretloom.testing.cluster import free_port


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_stuck_reconcile_fails_the_liveness_probe_not_readiness() -> None:
    clock, release = Clock(), asyncio.Event()

    async def reconcile(key: str) -> Result:
        if key == "stuck":
            await release.wait()
        return Result()

    controller: Controller[str] = Controller("test", reconcile, workers=2, clock=clock)
    stuck_after = 300.0
    port = free_port()
    server = await metrics.serve(
        "127.0.0.1", port, lambda: True, lambda: controller.busy_for() <= stuck_after
    )
    workers = asyncio.create_task(controller.run())
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            controller.queue.add("stuck")
            controller.queue.add("quick")
            await asyncio.sleep(0.05)
            assert controller.busy_for() == 0.0  # just started
            clock.now += 299
            assert (await http.get("/healthz")).status_code == 200
            clock.now += 2  # 301 s into one reconcile
            response = await http.get("/healthz")
            assert (response.status_code, response.text) == (503, "stuck\n")
            assert (await http.get("/readyz")).status_code == 200  # caches are fine
            release.set()
            await asyncio.sleep(0.05)
            assert controller.busy_for() == 0.0
            assert (await http.get("/healthz")).status_code == 200
    finally:
        workers.cancel()
        server.close()
        await asyncio.gather(workers, return_exceptions=True)


def test_the_controller_works_the_queue_it_is_given_even_an_empty_one() -> None:
    async def reconcile(key: str) -> Result:
        del key
        return Result()

    queue: WorkQueue[str] = WorkQueue()  # empty, so falsy: `queue or WorkQueue()` lost it
    assert Controller("test", reconcile, queue=queue).queue is queue
