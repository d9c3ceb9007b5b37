"""`secretloom owners SECRET`: which field manager owns which key of any Secret.

The table `make demo` shows, for any Secret in any cluster (issue 15): one row
per data key with the field manager(s) that own it, read from
`metadata.managedFields` through `runtime.kube`. A key no manager owns (written
through `stringData` or by an `Update` that dropped its managed fields) shows
`-`; a key owned by several managers lists them all, which is the state a
conflict-free server-side apply leaves when two writers applied the same value.
Managers that own no data key (the Helm shell, status writers) are listed
beneath with what they do own, so nothing is hidden. A key of an aggregated
target (issue 17: one field manager for many SecretSyncs) shows that manager
and, from the `secretloom.io/owners` annotation it writes beside the keys,
the SecretSync the key belongs to. Values are never read out:
only key names, managers and operations are printed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from secretloom.cli.errors import fail
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.kubeconfig import KubeconfigError
from secretloom.runtime.meta import AGGREGATE_MANAGER_PREFIX, recorded_owners
from secretloom.runtime.resources import SECRETS


@dataclass(frozen=True, slots=True)
class Ownership:
    """Who owns what in one Secret, from its managedFields."""

    keys: dict[str, list[str]]  # data key -> managers (operation in brackets when Update)
    others: dict[str, list[str]]  # manager -> the non-data fields it owns


def ownership(secret: Obj) -> Ownership:
    """Key -> managers, and the other fields each manager owns (pure)."""
    meta = secret.get("metadata") or {}
    record = recorded_owners(secret)
    keys: dict[str, list[str]] = {k: [] for k in sorted(secret.get("data") or {})}
    others: dict[str, list[str]] = {}
    for entry in meta.get("managedFields") or []:
        manager = str(entry.get("manager", "?"))
        if entry.get("operation") == "Update":
            manager += " (Update)"
        fields: Mapping[str, Any] = entry.get("fieldsV1") or {}
        aggregated = manager.startswith(AGGREGATE_MANAGER_PREFIX)
        for key in fields.get("f:data") or {}:
            if key.startswith("f:"):
                sync = record.get(key[2:]) if aggregated else None
                shown = f"{manager} (SecretSync {sync})" if sync else manager
                keys.setdefault(key[2:], []).append(shown)
        rest = sorted(_field_names(fields))
        if rest:
            others[manager] = rest
    return Ownership(keys, others)


def _field_names(fields: Mapping[str, Any]) -> list[str]:
    names = []
    for name, sub in fields.items():
        if name in ("f:data", "."):
            continue
        if name == "f:metadata" and isinstance(sub, Mapping):
            names += [f"metadata.{k[2:]}" for k in sub if k.startswith("f:")]
        elif name.startswith("f:"):
            names.append(name[2:])
    return names


def owners(
    secret: Annotated[str, typer.Argument(help="Name of the Secret.")],
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="Namespace of the Secret.")
    ] = "default",
    kubeconfig: Annotated[
        Path | None,
        typer.Option("--kubeconfig", help="Kubeconfig (default: $KUBECONFIG, in-cluster)."),
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json.")] = "table",
) -> None:
    """Print the key -> field manager table of a Secret (from managedFields; never values)."""
    if output not in ("table", "json"):
        fail(f"--output must be table or json, not {output!r}")
    try:
        obj = asyncio.run(_read(kubeconfig, namespace, secret))
    except KubeconfigError as err:
        fail(str(err))
    except ApiError as err:
        if err.status == 404:
            fail(f"Secret {namespace}/{secret} not found")
        fail(f"reading Secret {namespace}/{secret}: {err.reason}: {err.message}")
    found = ownership(obj)
    if output == "json":
        typer.echo(json.dumps({"keys": found.keys, "otherFields": found.others}, indent=2))
        return
    table = Table(title=f"Secret {namespace}/{secret}: key -> field manager")
    table.add_column("key")
    table.add_column("field manager")
    for key, managers in found.keys.items():
        table.add_row(escape(key), escape(", ".join(managers) or "-"))
    console = Console(width=120)
    console.print(table)
    for manager, fields in found.others.items():
        console.print(f"{escape(manager)} also owns: {escape(', '.join(fields))}")


async def _read(kubeconfig: Path | None, namespace: str, name: str) -> Obj:
    async with KubeClient.from_kubeconfig(kubeconfig, qps=0) as kube:
        return await kube.get(SECRETS.path(namespace, name))
