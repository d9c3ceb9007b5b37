"""`secretloom demo`: the Argo CD Notifications scenario, end to end, on a real control plane.

What `make demo` runs. It starts the local control plane, installs the CRDs,
runs the controller as a separate process (as it is deployed), applies
`examples/argocd-notifications/` with the field managers the blog post's tools
would use (helm for the shell, vault-secrets-operator for the sources), then
prints who owns which key (read back from `metadata.managedFields`) and how
long a rotated source took to reach the target, measured on the API server's
own watch stream. Demo values are printed as lengths only, never as values.
Everything it started is stopped on exit, including on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from secretloom.api import admission, crd
from secretloom.cli.errors import fail
from secretloom.runtime import crds
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.meta import meta_of
from secretloom.runtime.resources import NAMESPACES, SECRET_SYNCS, SECRETS
from secretloom.testing import assets, controller, vault_example
from secretloom.testing import cluster as local

console = Console(width=110)
VAULT_NAMESPACE = "argocd-vault"
MANAGERS = {"00": "helm", "10": "vault-secrets-operator", "20": "kubectl"}
EXAMPLE = assets.path("examples/argocd-notifications")


def demo(
    example: Annotated[
        Path, typer.Option(help="Directory of manifests to apply, in file-name order.")
    ] = EXAMPLE,
    keep: Annotated[bool, typer.Option(help="Leave the cluster running afterwards.")] = False,
) -> None:
    """Run the Argo CD Notifications scenario on a fresh local control plane."""
    if not example.is_dir():
        fail(f"example directory {example} not found")
    data_dir = local.default_data_dir("demo")
    console.rule("secretloom demo: many owners, one Secret")
    started = time.monotonic()
    try:
        cluster = local.start(data_dir, bin_dir=local.binaries(progress=sys.stderr))
    except local.ControlPlaneError as err:
        fail(str(err))
    console.print(f"control plane up in {time.monotonic() - started:.1f}s: {cluster.server}")
    console.print(cluster.kubectl("version").strip())
    try:
        asyncio.run(_install_crds(cluster))
        log = cluster.data_dir / "logs" / "secretloom-controller.log"
        with controller.running(cluster.kubeconfig, log, "--json-logs"):
            manifests = [
                (path.name, doc)
                for path in sorted(example.glob("*.yaml"))
                for doc in yaml.safe_load_all(path.read_text())
                if doc
            ]
            asyncio.run(_scenario(cluster, manifests))
            _vault_variant(cluster)
            console.print(f"controller log: {log}")
    except (TimeoutError, RuntimeError) as err:
        fail(str(err))
    finally:
        if keep:
            console.print(f"cluster left running; kubeconfig: {cluster.kubeconfig}")
        else:
            cluster.stop()
            console.print("control plane stopped")


def _vault_variant(cluster: local.Cluster) -> None:
    """examples/argocd-notifications-vault/ against a real OpenBao dev server, if installed."""
    missing = vault_example.unavailable()
    if missing is not None:
        console.print(f"[yellow]Vault variant skipped: {escape(missing)}[/yellow]")
        return
    console.rule("Vault variant: two Vault paths and one Secret into one target")

    async def run() -> None:
        async with KubeClient.from_kubeconfig(cluster.kubeconfig, qps=0) as kube:
            await vault_example.install(kube, bao, VAULT_NAMESPACE)
            await vault_example.scenario(kube, bao, VAULT_NAMESPACE, echo=console.print)

    with vault_example.server() as bao:
        asyncio.run(run())


async def _install_crds(cluster: local.Cluster) -> None:
    async with KubeClient.from_kubeconfig(cluster.kubeconfig) as kube:
        await crds.install(kube, admission.bundle())
    console.print(
        "CRDs and admission policies installed: " + ", ".join(r.name for r in crd.RESOURCES)
    )


async def _scenario(cluster: local.Cluster, manifests: list[tuple[str, Obj]]) -> None:
    async with KubeClient.from_kubeconfig(cluster.kubeconfig, qps=0) as kube:
        syncs: list[tuple[str, str]] = []
        for file_name, doc in manifests:
            manager = MANAGERS.get(file_name[:2], "kubectl")
            await _apply(kube, doc, manager)
            if doc["kind"] == crd.SECRET_SYNC.kind:
                syncs.append((doc["metadata"]["namespace"], doc["metadata"]["name"]))
            console.print(
                f"applied {file_name}: {doc['kind']} {doc['metadata']['name']} "
                f"as field manager {manager!r}"
            )
        for namespace, name in syncs:
            await _wait_ready(kube, namespace, name)
        target = await _target(kube, syncs)
        _ownership_table(target)
        console.print(cluster.kubectl("get", "secretsyncs", "-A"))
        await _rotate(kube, target)


async def _apply(kube: KubeClient, doc: Obj, manager: str) -> None:
    meta = doc["metadata"]
    namespace = meta.get("namespace", "default")
    with contextlib.suppress(ApiError):
        await kube.create(NAMESPACES.path(), {"metadata": {"name": namespace}})
    if doc["kind"] == "Secret" and "stringData" in doc:
        # Applied as `data`: server-side apply records ownership of data keys,
        # while stringData is write-only and leaves no owner behind.
        doc = {**doc, "data": {k: _b64(v) for k, v in doc.pop("stringData").items()}}
    resource = SECRET_SYNCS if doc["kind"] == crd.SECRET_SYNC.kind else SECRETS
    await kube.apply(resource.path(namespace, meta["name"]), doc, field_manager=manager, force=True)


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


async def _wait_ready(kube: KubeClient, namespace: str, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sync = await kube.get(SECRET_SYNCS.path(namespace, name))
        for cond in (sync.get("status") or {}).get("conditions") or []:
            if cond["type"] == "Ready" and cond["status"] == "True":
                console.print(f"SecretSync {namespace}/{name}: Ready ({cond['message']})")
                return
        await asyncio.sleep(0.05)
    fail(f"SecretSync {namespace}/{name} not Ready within {timeout:.0f}s")


async def _target(kube: KubeClient, syncs: list[tuple[str, str]]) -> Obj:
    namespace, name = syncs[0]
    sync = await kube.get(SECRET_SYNCS.path(namespace, name))
    return await kube.get(SECRETS.path(namespace, sync["spec"]["target"]["name"]))


def _ownership_table(secret: Obj) -> None:
    meta = meta_of(secret)
    table = Table(title=f"Secret {meta['namespace']}/{meta['name']}: who owns what (managedFields)")
    table.add_column("field manager")
    table.add_column("operation")
    table.add_column("owns")
    for entry in meta.get("managedFields") or []:
        fields = entry.get("fieldsV1") or {}
        keys = sorted(k[2:] for k in fields.get("f:data") or {})
        other = sorted(k[2:] for k in fields if k != "f:data")
        owns = ", ".join([f"data[{k}]" for k in keys] + other) or "-"
        table.add_row(entry["manager"], entry.get("operation", ""), escape(owns))
    console.print(table)
    data = secret.get("data") or {}
    console.print(
        "keys: "
        + ", ".join(f"{k} ({len(base64.b64decode(v))} bytes)" for k, v in sorted(data.items()))
    )


async def _rotate(kube: KubeClient, target: Obj) -> None:
    """Rotate one source and time its arrival in the target, from the target's watch stream."""
    meta = target["metadata"]
    namespace = meta["namespace"]
    source = f"{meta['name']}-grafana-merge"
    key = "grafana-api-key"
    value = f"demo-grafana-key-{int(time.time())}"
    watched = asyncio.get_running_loop().create_future()

    async def watch() -> None:
        async for event in kube.watch(
            SECRETS.path(namespace),
            resource_version=meta["resourceVersion"],
            params={"fieldSelector": f"metadata.name={meta['name']}"},
        ):
            if (event["object"].get("data") or {}).get(key) == _b64(value):
                watched.set_result(time.perf_counter())
                return

    watcher = asyncio.create_task(watch())
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": source, "namespace": namespace},
        "data": {key: _b64(value)},
    }
    await kube.apply(
        SECRETS.path(namespace, source), body, field_manager="vault-secrets-operator", force=True
    )
    updated = time.perf_counter()
    try:
        arrived = await asyncio.wait_for(watched, 10)
    finally:
        watcher.cancel()
    console.print(
        f"rotated {source}[{key}]: reached {meta['name']} in "
        f"[bold]{(arrived - updated) * 1000:.1f} ms[/bold] (source write acknowledged -> "
        "target watch event)"
    )
    _ownership_table(await kube.get(SECRETS.path(namespace, meta["name"])))
