"""What the store scenarios share: SecretSyncs polling a real store server on a refresh.

Scenario 5 (bench/vault.py, OpenBao) and scenario 8 (bench/aws.py, AWS Secrets
Manager on moto) differ only in the server, how a value is changed there and
how the server counts the requests it served; the objects and the phases are
the same, so they live here once.

The scenarios run only when secretloom can do it: a `SecretStore` kind in
`secretloom.api.crd.RESOURCES` and a `refreshInterval` field in the SecretSync
or SecretStore spec (found in the generated CRD schemas, so the benchmark
follows the API rather than guessing it). Otherwise the result says
`not run: <why>` and the scenario's targets are reported as not measured.

Objects (`create`): `syncs` SecretSyncs, one target each, read `places` store
paths one property each (SecretSync i reads property `k<i // places>` of place
`i % places`), through one SecretStore, and refresh every `refresh_s`.

Phases (`measure`), after all are Ready:

* `window_periods` refresh periods with nothing changed: target writes must
  be 0; provider requests are counted by the server itself (`reads`, the
  difference of two counts), per minute;
* `changes` properties are changed in the store, spread evenly over one
  refresh period so that they fall at every phase of the SecretSyncs' refresh
  cycles (each write makes a new version of the whole path or secret, so the
  other properties there see a new version with the same value: those must
  not be written); staleness is the time from the write's response to the
  target event carrying the new value; target writes must equal the number of
  changed properties.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from bench import workload
from bench.record import Json, latency_summary
from bench.scenarios import Bench
from bench.workload import TargetWatch
from secretloom.api import crd
from secretloom.api.invalid import invalid_fields
from secretloom.runtime.resources import SECRET_STORES, SECRET_SYNCS, SECRETS

STORE = "bench-store"
Support = tuple[crd.CustomResource, str, Json]  # SecretStore kind, where refreshInterval lives


def _spec_properties(resource: crd.CustomResource) -> Json:
    schema = crd.definition(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    properties: Json = schema["properties"]["spec"].get("properties") or {}
    return properties


def _interval(schema: Json, seconds: float) -> Any:
    return int(seconds) if schema.get("type") == "integer" else f"{seconds:g}s"


def support() -> Support | str:
    """(SecretStore kind, where refreshInterval lives, its schema), or why it cannot run."""
    store = next((r for r in crd.RESOURCES if r.kind == "SecretStore"), None)
    if store is None:
        return "SecretStore support absent"
    for owner in (crd.SECRET_SYNC, store):
        schema = _spec_properties(owner).get("refreshInterval")
        if schema is not None:
            return store, owner.kind, schema
    return "no spec.refreshInterval on SecretSync or SecretStore"


def place(i: int, places: int) -> tuple[int, str]:
    """Which place (path, secret) and property SecretSync `i` reads."""
    return i % places, f"k{i // places}"


async def create(
    bench: Bench,
    found: Support,
    layout: workload.Layout,
    *,
    refresh_s: float,
    provider: Json,
    credentials: dict[str, str],
    source: Callable[[int], Json],
) -> str | None:
    """Namespace, targets, the credentials Secret, the store and the SecretSyncs.

    None, or why it cannot run (the SecretStore shape changed). `source(i)` is
    the `from` of SecretSync i without its store reference.
    """
    store, refresh_on, refresh_schema = found
    interval = _interval(refresh_schema, refresh_s)
    namespace = layout.namespace
    await workload.seed(bench.kube, layout, syncs=False)
    await bench.kube.apply(
        SECRETS.path(namespace, "store-credentials"),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "store-credentials", "namespace": namespace},
            "data": {key: workload.b64(value) for key, value in credentials.items()},
        },
        field_manager="bench",
    )
    store_spec: Json = {"provider": provider}
    if refresh_on == store.kind:
        store_spec["refreshInterval"] = interval
    try:
        store.spec.model_validate(store_spec)
    except ValidationError as err:
        return f"the SecretStore shape changed at: {invalid_fields(err)}"
    await bench.kube.apply(
        SECRET_STORES.path(namespace, STORE),
        {
            "apiVersion": store.api_version,
            "kind": store.kind,
            "metadata": {"name": STORE, "namespace": namespace},
            "spec": store_spec,
        },
        field_manager="kubectl",
        force=True,
    )

    def sync(i: int) -> Json:
        body = layout.sync(i)
        body["spec"]["data"][0]["from"] = {"store": {"name": STORE}, **source(i)}
        if refresh_on == crd.SECRET_SYNC.kind:
            body["spec"]["refreshInterval"] = interval
        return body

    await workload.bulk(
        [
            lambda i=i: bench.kube.apply(  # type: ignore[misc]
                SECRET_SYNCS.path(namespace, f"sync-{i:04d}"), sync(i), field_manager="kubectl"
            )
            for i in range(layout.syncs)
        ],
        16,
    )
    return None


async def measure(
    bench: Bench,
    label: str,
    layout: workload.Layout,
    *,
    refresh_s: float,
    changes: int,
    window_periods: float,
    reads: Callable[[], int],
    change: Callable[[int, str], None],
) -> Json:
    """The two phases; `reads()` counts the server's requests, `change(i, value)` is blocking."""
    p = bench.params
    proc = await bench.controller(layout, label)
    watch = TargetWatch(bench.kube, layout.namespace)
    result: Json = {"status": "run"}
    try:
        try:
            await workload.wait_synced(bench.kube, layout, p.ready_timeout)
        except TimeoutError as err:  # the controller could not do it: a result, not a crash
            bench.log(f"{label}: failed: {err}")
            return {"status": f"failed: {err}"}
        bench.log(f"{label}: {layout.syncs} SecretSyncs Ready; {window_periods:g} refresh periods")
        await watch.start()
        await watch.barrier()
        window = refresh_s * window_periods
        before, writes = reads(), watch.count
        await asyncio.sleep(window)
        await watch.barrier()
        result["writes_unchanged"] = watch.count - writes
        made = reads() - before
        result |= {"window_s": window, "reads": made, "requests_per_min": made * 60 / window}

        bench.log(f"{label}: {changes} changes over one refresh period")
        rng = random.Random(p.seed)
        changed = rng.sample(range(layout.syncs), min(changes, layout.syncs))
        writes = watch.count
        expectations = []
        start, spacing = time.perf_counter(), refresh_s / max(1, len(changed))
        for n, i in enumerate(changed):
            # Spread over one refresh period, so changes fall at every phase of the refresh.
            await asyncio.sleep(max(0.0, start + n * spacing - time.perf_counter()))
            value = f"changed-{n}"
            expectation = watch.expect(layout.target(i), layout.key(i), workload.b64(value))
            await asyncio.to_thread(change, i, value)
            expectation.sent_at = time.perf_counter()
            expectations.append(expectation)
        result["unlanded"] = await watch.settle(refresh_s * 2.5)
        await watch.barrier()
        result["changes"] = len(changed)
        result["writes_changed"] = watch.count - writes
        staleness = [e.latency for e in expectations if e.latency is not None]
        result["staleness"] = latency_summary(staleness)
        result["staleness_samples_s"] = staleness
    finally:
        await watch.stop()
        await proc.stop()
    return result
