"""Scenario 6 (noisy neighbours): a victim's latency at rest and beside a tarpit store.

Issue 10: four SecretSyncs pointing at a store that answers one byte every
five seconds stopped every SecretSync of the cluster (a victim with only
Kubernetes sources got 0 of 10 updates). The promise is that a victim's
updates keep their at-rest latency within 2x while that happens.

One controller watches two namespaces: the victim's (`neighbour_syncs`
SecretSyncs with Kubernetes sources, one target each) and the attacker's. In
one run and on one controller:

1. at rest: `neighbour_rate` changes/s to the victim's sources for
   `neighbour_s` seconds, latency as in scenario 1 (the update's response to
   the target event holding the value);
2. the attacker gets a SecretStore whose server is a loopback tarpit
   (`tests.openbao.hostile`: it accepts, then trickles one byte every
   `trickle_s` seconds, so no store call ever gets past `sys/health`) and
   `attackers` SecretSyncs reading it, as many as the controller has workers;
   once the tarpit has been called, the same load again.

The result holds both latency distributions, how many victim updates never
landed, how often the tarpit was called, and whether `/healthz` stayed ok.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import asdict

import httpx2 as httpx
from tests.openbao.hostile import Hostile, trickle

from bench import procs, workload
from bench.record import Json, Target, latency_summary, ratio
from bench.scenarios import Bench
from bench.summarize import Result
from secretloom.api.crd import SECRET_STORE
from secretloom.runtime.kube import ApiError, KubeClient
from secretloom.runtime.resources import NAMESPACES, SECRET_STORES, SECRET_SYNCS, SECRETS

VICTIM, ATTACKER = "bench-neighbour-victim", "bench-neighbour-attacker"
P99_RATIO = 2.0


async def run(bench: Bench) -> Json:
    p = bench.params
    layout = workload.Layout(VICTIM, p.neighbour_syncs, p.neighbour_syncs)
    sources = await workload.seed(bench.kube, layout, syncs=True)
    await _namespace(bench.kube, ATTACKER)
    result: Json = {"attackers": p.attackers, "trickle_s": p.trickle_s}
    with Hostile(trickle(p.trickle_s), passes_health=False) as tarpit:
        proc = await procs.Controller.start(
            bench.kubeconfig,
            [VICTIM, ATTACKER],
            bench.scratch / "controller-neighbours.log",
            workers=p.workers,
            qps=p.qps,
            burst=p.client_burst,
        )
        watch = workload.TargetWatch(bench.kube, VICTIM)
        try:
            await workload.wait_synced(bench.kube, layout, p.ready_timeout)
            await watch.start()
            await watch.barrier()
            bench.log(f"neighbours: victim at rest, {p.neighbour_rate:g} changes/s")
            rest = await _load(sources, watch, bench)
            await _attack(bench.kube, tarpit.address, p.attackers)
            await _until_called(tarpit, timeout=p.ready_timeout)
            await asyncio.sleep(p.trickle_s)  # every attacker's poll is in the tarpit now
            bench.log(f"neighbours: {p.attackers} attackers on the tarpit, same load")
            attacked = await _load(sources, watch, bench)
            proc.check()
            result |= {
                "rest": asdict(rest),
                "attacked": asdict(attacked),
                "tarpit_calls": len(tarpit.requests),
                "healthz": await _healthz(proc),
            }
        finally:
            await watch.stop()
            await proc.stop()
    return result


async def _load(
    sources: workload.Sources, watch: workload.TargetWatch, bench: Bench
) -> workload.Steady:
    p = bench.params
    rng = random.Random(p.seed)
    return await workload.steady(
        sources, watch, rate=p.neighbour_rate, duration=p.neighbour_s, rng=rng
    )


async def _namespace(kube: KubeClient, name: str) -> None:
    try:
        await kube.create(NAMESPACES.path(), {"metadata": {"name": name}})
    except ApiError as err:
        if err.status != 409:
            raise


async def _attack(kube: KubeClient, server: str, attackers: int) -> None:
    """A SecretStore on the tarpit, and `attackers` SecretSyncs reading it."""
    token = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "tarpit-token", "namespace": ATTACKER},
        "data": {"token": workload.b64("any")},
    }
    await kube.apply(SECRETS.path(ATTACKER, "tarpit-token"), token, field_manager="bench")
    vault = {
        "server": server,
        "path": "secret",
        "auth": {"tokenSecretRef": {"name": "tarpit-token", "key": "token"}},
    }
    store = {
        "apiVersion": SECRET_STORE.api_version,
        "kind": SECRET_STORE.kind,
        "metadata": {"name": "tarpit", "namespace": ATTACKER},
        "spec": {"provider": {"vault": vault}},
    }
    await kube.apply(SECRET_STORES.path(ATTACKER, "tarpit"), store, field_manager="bench")
    for i in range(attackers):
        name = f"attacker-{i}"
        source = {"store": {"name": "tarpit"}, "path": f"p{i}", "property": "k"}
        body = workload.Layout(ATTACKER, attackers, attackers).sync(i)
        body["metadata"]["name"] = name
        body["spec"]["data"][0]["from"] = source
        await kube.apply(SECRET_SYNCS.path(ATTACKER, name), body, field_manager="bench")


async def _until_called(tarpit: Hostile, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not tarpit.requests:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the tarpit was not called within {timeout:.0f}s")
        await asyncio.sleep(0.1)


async def _healthz(proc: procs.Controller) -> int:
    async with httpx.AsyncClient(timeout=5.0) as http:
        return (await http.get(f"http://127.0.0.1:{proc.port}/healthz")).status_code


def summarize(data: Json) -> Result:
    """Latency at rest and attacked, their p99 ratio, and the victim's undelivered updates."""
    name = "victim p99 beside 4 tarpit attackers / at rest"
    if "rest" not in data:
        return Result(summary=data, targets=[Target.not_run(name, "≤", P99_RATIO, "x", "failed")])
    rest, attacked = data.pop("rest"), data.pop("attacked")
    mine, base = latency_summary(attacked["samples_s"]), latency_summary(rest["samples_s"])
    summary = {
        **data,
        "at_rest": base,
        "attacked": mine,
        "changes": [rest["sent"], attacked["sent"]],
        "unlanded": [rest["unlanded"], attacked["unlanded"]],
        "p99_ratio": ratio(mine["p99_ms"], base["p99_ms"]),
    }
    return Result(
        samples={"at_rest_s": rest["samples_s"], "attacked_s": attacked["samples_s"]},
        summary=summary,
        targets=[
            Target.at_most(name, summary["p99_ratio"], P99_RATIO, "x"),
            Target.exactly(
                "victim updates not delivered beside the attackers",
                attacked["unlanded"],
                0,
                "updates",
            ),
        ],
    )
