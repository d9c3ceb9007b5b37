"""`secretloom check notifications`: every `$key` Argo CD Notifications will look up, resolved.

Reads `argocd-notifications-cm`, `argocd-notifications-secret` and the
SecretSyncs that target that Secret, from the cluster (`--kubeconfig`, the
namespace's live objects: a key a SecretSync declares but has not written yet
does not resolve now) or from manifest files (for CI, before a sync: a key a
SecretSync declares will be there). The expansion is Argo CD's own
(`secretloom.checks.notifications`). Prints one line per reference, per
missing reference with who could provide it, per unused key; exit 1 when a
reference will not resolve or a service would be refused. Key names only,
never values.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError

from secretloom.api import secretsync as api
from secretloom.checks.notifications import Provider, Report, check
from secretloom.cli.errors import fail
from secretloom.controllers.secretsync.naming import field_manager
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.kubeconfig import KubeconfigError
from secretloom.runtime.meta import data_keys_by_writer
from secretloom.runtime.resources import CONFIGMAPS, SECRET_SYNCS, SECRETS

app = typer.Typer(
    help="Check configuration that consumes secretloom targets.", no_args_is_help=True
)
_SUFFIXES = (".yaml", ".yml", ".json")


def _owners(secret: Obj) -> dict[str, str]:
    owners = dict.fromkeys(secret.get("data") or {}, "-")
    owners |= dict.fromkeys(secret.get("stringData") or {}, "-")
    for manager, keys in data_keys_by_writer(secret, field_manager).items():
        owners |= dict.fromkeys(keys, manager or "?")
    return owners


def _providers(syncs: list[Obj], namespace: str, secret: str) -> list[Provider]:
    found = []
    for obj in syncs:
        meta = obj.get("metadata") or {}
        if (meta.get("namespace") or namespace) != namespace:
            continue
        try:
            spec = api.SecretSyncSpec.model_validate(obj.get("spec") or {})
        except ValidationError:
            fail(f"SecretSync {namespace}/{meta.get('name')}: invalid spec")
        if spec.target.name != secret:
            continue
        ready = next(
            (f"{c['status']} ({c.get('reason', '')})"
             for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"),
            "",
        )  # fmt: skip
        found.append(Provider(namespace, str(meta.get("name")), spec, ready))
    return found


def _from_files(paths: list[Path]) -> list[Obj]:
    docs: list[Any] = []
    for path in paths:
        files = (
            sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES) if path.is_dir() else [path]
        )
        for file in files:
            try:
                docs += list(yaml.safe_load_all(file.read_text()))
            except OSError as err:
                fail(f"{file}: {err.strerror}")
            except yaml.YAMLError:
                fail(f"{file}: not valid YAML")
    return [d for d in docs if isinstance(d, dict)]


async def _from_cluster(kubeconfig: Path | None, namespace: str, cm: str, secret: str) -> list[Obj]:
    async with KubeClient.from_kubeconfig(kubeconfig, qps=0) as kube:
        docs = [{**await kube.get(CONFIGMAPS.path(namespace, cm)), "kind": "ConfigMap"}]
        try:
            docs.append({**await kube.get(SECRETS.path(namespace, secret)), "kind": "Secret"})
        except ApiError as err:
            if err.status != 404:
                raise
        syncs, _ = await kube.list(SECRET_SYNCS.path(namespace))
        return docs + [{**s, "kind": api.KIND} for s in syncs]


def _find(docs: list[Obj], kind: str, namespace: str, name: str) -> Obj | None:
    for doc in docs:
        meta = doc.get("metadata") or {}
        same = (meta.get("namespace") or namespace) == namespace
        if doc.get("kind") == kind and meta.get("name") == name and same:
            return doc
    return None


@app.command()
def notifications(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Manifest files or directories; none: read the cluster."),
    ] = None,
    namespace: Annotated[str, typer.Option("--namespace", "-n")] = "argocd",
    configmap: Annotated[str, typer.Option("--configmap")] = "argocd-notifications-cm",
    secret: Annotated[str, typer.Option("--secret")] = "argocd-notifications-secret",  # noqa: S107
    kubeconfig: Annotated[Path | None, typer.Option("--kubeconfig")] = None,
) -> None:
    """Check that every $key the notification services reference will resolve."""
    live = not files
    try:
        docs = (
            asyncio.run(_from_cluster(kubeconfig, namespace, configmap, secret))
            if live
            else _from_files(files or [])
        )
    except KubeconfigError as err:
        fail(str(err))
    except ApiError as err:
        if err.status == 404:
            fail(f"ConfigMap {namespace}/{configmap} not found")
        fail(f"reading {namespace}: {err.reason}: {err.message}")
    cm = _find(docs, "ConfigMap", namespace, configmap)
    if cm is None:
        fail(f"ConfigMap {namespace}/{configmap} not found in the inputs")
    target = _find(docs, "Secret", namespace, secret)
    syncs = [d for d in docs if d.get("kind") == api.KIND]
    report = check(
        {str(k): str(v) for k, v in (cm.get("data") or {}).items()},
        _owners(target) if target is not None else None,
        _providers(syncs, namespace, secret),
        secret_name=f"{namespace}/{secret}",
        live=live,
    )
    _print(report)
    if report.missing or report.errors:
        raise typer.Exit(1)


def _print(report: Report) -> None:
    for error in report.errors:
        typer.echo(f"error: {error}")
    for ref in report.references:
        if ref.resolved_by:
            typer.echo(f"ok: ${ref.key} ({ref.service}) <- {ref.resolved_by}")
        else:
            typer.echo(f"missing: ${ref.key} ({ref.service}): {ref.hint}")
    for key in report.unused:
        typer.echo(f"unused: {key}: no service references it")
    typer.echo(
        f"{len(report.references)} reference(s), {len(report.missing)} missing, "
        f"{len(report.unused)} unused key(s), {len(report.errors)} service error(s)"
    )
