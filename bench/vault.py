"""Scenario 5: SecretSyncs reading a real OpenBao server on a periodic refresh.

It runs only when secretloom can do it: a `SecretStore` kind in
`secretloom.api.crd.RESOURCES` and a `refreshInterval` field in the SecretSync
or SecretStore spec (found in the generated CRD schemas, so the benchmark
follows the API rather than guessing it). Otherwise the result says
`not run: <why>` and every Vault target is reported as not measured.

When it runs: `vault_syncs` SecretSyncs read `vault_paths` KV v2 paths (one
property each) through one SecretStore with a token from a Secret, and refresh
every `vault_refresh_s`. After all are Ready:

* one refresh period (plus a margin) with nothing changed: target writes must
  be 0; provider requests are counted from OpenBao's own audit log (reads of
  the benchmark paths), per minute;
* `vault_changes` properties are changed in OpenBao, spread evenly over one
  refresh period so that they fall at every phase of the SecretSyncs' refresh
  cycles (each write makes a new version of its whole path, so the other
  properties of that path see a new version with the same value: those must
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
from secretloom.testing.openbao import OpenBaoServer

MOUNT, PREFIX = "secret", "bench"


def _spec_properties(resource: crd.CustomResource) -> Json:
    schema = crd.definition(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    properties: Json = schema["properties"]["spec"].get("properties") or {}
    return properties


def _interval(schema: Json, seconds: float) -> Any:
    return int(seconds) if schema.get("type") == "integer" else f"{seconds:g}s"


def support() -> tuple[crd.CustomResource, str, Json] | str:
    """(SecretStore kind, where refreshInterval lives, its schema), or why it cannot run."""
    store = next((r for r in crd.RESOURCES if r.kind == "SecretStore"), None)
    if store is None:
        return "SecretStore support absent"
    for owner in (crd.SECRET_SYNC, store):
        schema = _spec_properties(owner).get("refreshInterval")
        if schema is not None:
            return store, owner.kind, schema
    return "no spec.refreshInterval on SecretSync or SecretStore"


async def run(bench: Bench) -> Json:
    found = support()
    if isinstance(found, str):
        bench.log(f"vault: not run: {found}")
        return {"status": f"not run: {found}"}
    store, refresh_on, refresh_schema = found
    p = bench.params
    paths = max(1, min(p.vault_paths, p.vault_syncs))
    properties = -(-p.vault_syncs // paths)
    interval = _interval(refresh_schema, p.vault_refresh_s)

    def seed(server: OpenBaoServer) -> None:
        client = server.client()
        if f"{MOUNT}/" not in client.sys.list_mounted_secrets_engines()["data"]:
            client.sys.enable_secrets_engine(
                backend_type="kv", path=MOUNT, options={"version": "2"}
            )
        for j in range(paths):
            client.secrets.kv.v2.create_or_update_secret(
                path=f"{PREFIX}/p{j}",
                secret={f"k{k}": f"v-{j}-{k}-0" for k in range(properties)},
                mount_point=MOUNT,
            )

    with OpenBaoServer(
        work_dir=bench.scratch / "openbao", seed=seed, die_with_parent=True
    ) as bao:  # fmt: skip
        namespace = "bench-vault"
        layout = workload.Layout(namespace, p.vault_syncs, p.vault_syncs)
        await workload.seed(bench.kube, layout, syncs=False)
        await bench.kube.apply(
            SECRETS.path(namespace, "bao-token"),
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "bao-token", "namespace": namespace},
                "data": {"token": workload.b64(bao.root_token)},
            },
            field_manager="bench",
        )
        store_spec: Json = {
            "provider": {
                "vault": {
                    "server": bao.address,
                    "path": MOUNT,
                    "version": "v2",
                    "auth": {"tokenSecretRef": {"name": "bao-token", "key": "token"}},
                }
            }
        }
        if refresh_on == store.kind:
            store_spec["refreshInterval"] = interval
        try:
            store.spec.model_validate(store_spec)
        except ValidationError as err:
            return {"status": f"not run: the SecretStore shape changed at: {invalid_fields(err)}"}
        await bench.kube.apply(
            SECRET_STORES.path(namespace, "bao"),
            {
                "apiVersion": store.api_version,
                "kind": store.kind,
                "metadata": {"name": "bao", "namespace": namespace},
                "spec": store_spec,
            },
            field_manager="kubectl",
            force=True,
        )

        def where(i: int) -> tuple[str, str]:
            return f"{PREFIX}/p{i % paths}", f"k{i // paths}"

        def sync(i: int) -> Json:
            body = layout.sync(i)
            path, prop = where(i)
            body["spec"]["data"][0]["from"] = {
                "store": {"name": "bao"},
                "path": path,
                "property": prop,
            }
            if refresh_on == crd.SECRET_SYNC.kind:
                body["spec"]["refreshInterval"] = interval
            return body

        await workload.bulk(
            [
                lambda i=i: bench.kube.apply(  # type: ignore[misc]
                    SECRET_SYNCS.path(namespace, f"sync-{i:04d}"), sync(i), field_manager="kubectl"
                )
                for i in range(p.vault_syncs)
            ],
            16,
        )
        return await _measure(bench, bao, layout, paths, where)


def _reads(bao: OpenBaoServer) -> int:
    return sum(
        1
        for entry in bao.audit_entries()
        if entry.get("type") == "request"
        and (entry.get("request") or {}).get("operation") == "read"
        and str((entry.get("request") or {}).get("path", "")).startswith(f"{MOUNT}/data/{PREFIX}/")
    )


async def _measure(
    bench: Bench,
    bao: OpenBaoServer,
    layout: workload.Layout,
    paths: int,
    where: Callable[[int], tuple[str, str]],
) -> Json:
    p = bench.params
    proc = await bench.controller(layout, "vault")
    watch = TargetWatch(bench.kube, layout.namespace)
    result: Json = {"status": "run", "paths": paths}
    try:
        try:
            await workload.wait_synced(bench.kube, layout, p.ready_timeout)
        except TimeoutError as err:  # the controller could not do it: a result, not a crash
            bench.log(f"vault: failed: {err}")
            return {"status": f"failed: {err}"}
        bench.log(f"vault: {layout.syncs} SecretSyncs Ready; one refresh with no change")
        await watch.start()
        await watch.barrier()
        window = p.vault_refresh_s * 1.25
        reads, writes = _reads(bao), watch.count
        await asyncio.sleep(window)
        await watch.barrier()
        result["writes_unchanged"] = watch.count - writes
        reads = _reads(bao) - reads
        result |= {"window_s": window, "reads": reads, "requests_per_min": reads * 60 / window}

        bench.log(f"vault: {p.vault_changes} changes over one refresh period")
        rng = random.Random(p.seed)
        changed = rng.sample(range(layout.syncs), min(p.vault_changes, layout.syncs))
        client = bao.client()
        writes = watch.count
        expectations = []
        start, spacing = time.perf_counter(), p.vault_refresh_s / max(1, len(changed))
        for n, i in enumerate(changed):
            # Spread over one refresh period, so changes fall at every phase of the refresh.
            await asyncio.sleep(max(0.0, start + n * spacing - time.perf_counter()))
            path, prop = where(i)
            value = f"changed-{n}"
            expectation = watch.expect(layout.target(i), layout.key(i), workload.b64(value))
            await asyncio.to_thread(
                client.secrets.kv.v2.patch, path=path, secret={prop: value}, mount_point=MOUNT
            )
            expectation.sent_at = time.perf_counter()
            expectations.append(expectation)
        result["unlanded"] = await watch.settle(p.vault_refresh_s * 2.5)
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
