"""`secretloom backup` and `secretloom restore`: keys and objects, encrypted to age (issue #13).

`backup` lists the sealing keys (the labelled Secrets of the sealing
namespace, imported Bitnami keys included) and every secretloom object
(ClusterSecretStores, SecretStores, SecretSyncs, SealedSecrets; SecretSyncs a
SealedSecret owns are left out, the controller makes them again), strips what
the API server owns (uid, resourceVersion, managedFields, status,
ownerReferences, finalizers, `last-applied-configuration`), and writes one
JSON document encrypted to the given age recipients (pyrage, in-process):
the plaintext never touches the disk. Target Secrets and source Secrets are
never included: they are what the objects produce or the teams own.

`--output-dir DIR` names each archive by its UTC time and, with
`--retention-days N`, removes this command's archives older than N days
there (the chart's daily CronJob runs it so). `--namespaces a,b` backs up
only those namespaces' objects and no ClusterSecretStores (namespaced RBAC).

`restore` decrypts it with an age identity file and server-side applies
everything (field manager `secretloom-restore`) in dependency order, each
namespace created when missing: keys first, so the controller that starts
next opens every old ciphertext. Applying is idempotent; a refusal stops
with one line naming the object. The whole archive is checked before the
cluster is touched (a known kind at its apiVersion, a valid name, a namespace
exactly when the kind is namespaced): an archive that decrypts but holds a
malformed object is refused in one line naming its index, so a restore is
never half-applied because of it.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import re
import time
from pathlib import Path
from typing import Annotated, Any

import pyrage  # type: ignore[import-untyped]
import typer

from secretloom.api import sealing
from secretloom.api.secretsync import (
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    GROUP,
    VERSION,
)
from secretloom.cli.errors import fail
from secretloom.controllers.sealedsecret.reconciler import SEALED_SECRETS
from secretloom.controllers.sealedsecret.translate import OWNED_BY_LABEL
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.kubeconfig import KubeconfigError
from secretloom.runtime.resources import (
    CLUSTER_SECRET_STORES,
    NAMESPACES,
    SECRET_STORES,
    SECRET_SYNCS,
    SECRETS,
    Resource,
)

FORMAT = "secretloom.io/backup-v1"
FIELD_MANAGER = "secretloom-restore"
_API = f"{GROUP}/{VERSION}"
# Restore order: what a later kind refers to comes first.
KINDS: tuple[tuple[str, str, Resource], ...] = (
    ("v1", "Secret", SECRETS),
    (_API, "ClusterSecretStore", CLUSTER_SECRET_STORES),
    (_API, "SecretStore", SECRET_STORES),
    (_API, "SecretSync", SECRET_SYNCS),
    (_API, "SealedSecret", SEALED_SECRETS),
)
_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)

KubeconfigOption = Annotated[
    Path | None, typer.Option(help="Kubeconfig (default: $KUBECONFIG, then in-cluster).")
]


def portable(obj: Obj, api_version: str, kind: str) -> Obj:
    """`obj` as it can be applied to another cluster: only what its author wrote."""
    meta = obj.get("metadata") or {}
    kept: Obj = {"name": meta["name"]}
    if meta.get("namespace"):
        kept["namespace"] = meta["namespace"]
    if meta.get("labels"):
        kept["labels"] = meta["labels"]
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in _DROPPED_ANNOTATIONS
    }
    if annotations:
        kept["annotations"] = annotations
    body = {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}
    return {"apiVersion": api_version, "kind": kind, "metadata": kept, **body}


def _is_key(obj: Obj) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return sealing.KEY_LABEL in labels or sealing.BITNAMI_KEY_LABEL in labels


def _owned_sync(obj: Obj) -> bool:
    return OWNED_BY_LABEL in ((obj.get("metadata") or {}).get("labels") or {})


async def collect(
    client: KubeClient, sealing_namespace: str, namespaces: list[str] | None = None
) -> list[Obj]:
    """Every key and object to back up (`namespaces`: only those, no cluster-scoped kinds)."""
    objects: list[Obj] = []
    for api_version, kind, resource in KINDS:
        items: list[Obj] = []
        if kind == "Secret":
            for label in (sealing.KEY_LABEL, sealing.BITNAMI_KEY_LABEL):
                found, _ = await client.list(
                    SECRETS.path(sealing_namespace), params={"labelSelector": label}
                )
                items += found
        elif namespaces is None:
            items, _ = await client.list(resource.path())
        elif resource.namespaced:
            for namespace in namespaces:
                found, _ = await client.list(resource.path(namespace))
                items += found
        objects += [
            portable(o, api_version, kind)
            for o in items
            if (kind != "Secret" or _is_key(o)) and not (kind == "SecretSync" and _owned_sync(o))
        ]
    return objects


async def apply_all(client: KubeClient, objects: list[Obj]) -> dict[str, int]:
    resources = {kind: resource for _, kind, resource in KINDS}
    order = {kind: i for i, (_, kind, _) in enumerate(KINDS)}
    namespaces = sorted(
        {o["metadata"]["namespace"] for o in objects if "namespace" in o["metadata"]}
    )
    for namespace in namespaces:
        try:
            await client.create(NAMESPACES.path(), {"metadata": {"name": namespace}})
        except ApiError as err:
            if err.status != 409:
                raise
    counts: dict[str, int] = {}
    for obj in sorted(objects, key=lambda o: order[o["kind"]]):
        meta = obj["metadata"]
        path = resources[obj["kind"]].path(meta.get("namespace"), meta["name"])
        try:
            await client.apply(path, obj, field_manager=FIELD_MANAGER, force=True)
        except ApiError as err:
            where = f"{meta.get('namespace', '')}/{meta['name']}".lstrip("/")
            raise RestoreError(f"{obj['kind']} {where}: {err}") from None
        counts[obj["kind"]] = counts.get(obj["kind"], 0) + 1
    return counts


class RestoreError(Exception):
    """One object was refused; the message names it (never its content)."""


class ArchiveError(ValueError):
    """The archive decrypts but an object in it cannot be restored; names it, never its content."""


_KIND_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,62}")


def _valid(value: object, pattern: str, limit: int) -> bool:
    """A string of at most `limit` characters matching `pattern`."""
    if not isinstance(value, str) or len(value) > limit:
        return False
    return re.fullmatch(pattern, value) is not None


def checked(objects: object) -> list[Obj]:
    """The archive's objects, each one `apply_all` can restore, or `ArchiveError` for the first
    that is not (`objects[i]`: its index, then what is wrong). Never echoes a value.
    """
    if not isinstance(objects, list):
        raise ArchiveError("objects is not a list")
    kinds = {kind: (api_version, resource) for api_version, kind, resource in KINDS}
    for index, obj in enumerate(objects):
        where = f"objects[{index}]"
        if not isinstance(obj, dict):
            raise ArchiveError(f"{where}: not an object")
        kind = obj.get("kind")
        if not isinstance(kind, str) or kind not in kinds:
            known = ", ".join(kinds)
            if not isinstance(kind, str) or not _KIND_NAME.fullmatch(kind):
                raise ArchiveError(f"{where}: kind is missing or not a kind (one of {known})")
            raise ArchiveError(f"{where}: unknown kind {kind!r} (one of {known})")
        api_version, resource = kinds[kind]
        where += f" ({kind})"
        if obj.get("apiVersion") != api_version:
            raise ArchiveError(f"{where}: apiVersion is not {api_version}")
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            raise ArchiveError(f"{where}: no metadata")
        name = meta.get("name")
        if not name:
            raise ArchiveError(f"{where}: no metadata.name")
        if not _valid(name, DNS_SUBDOMAIN_PATTERN, 253):
            raise ArchiveError(f"{where}: metadata.name is not an object name")
        where = f"objects[{index}] ({kind} {name})"
        namespace = meta.get("namespace")
        if resource.namespaced:
            if not namespace:
                raise ArchiveError(f"{where}: no metadata.namespace")
            if not _valid(namespace, DNS_LABEL_PATTERN, 63):
                raise ArchiveError(f"{where}: metadata.namespace is not a namespace name")
        elif "namespace" in meta:
            raise ArchiveError(f"{where}: cluster-scoped, but has metadata.namespace")
    return objects


def _recipients(values: list[str]) -> list[Any]:
    try:
        return [pyrage.x25519.Recipient.from_str(v.strip()) for v in values]
    except pyrage.RecipientError:
        fail("--recipient must be an age X25519 recipient (age1…)")


def _identities(path: Path) -> list[Any]:
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        fail(f"--identity {path}: {err.strerror}")
    try:
        found = [
            pyrage.x25519.Identity.from_str(line.strip())
            for line in lines
            if line.strip().startswith("AGE-SECRET-KEY-")
        ]
    except pyrage.IdentityError:
        fail(f"--identity {path}: an age identity in it is malformed")
    if not found:
        fail(f"--identity {path}: no age identity (AGE-SECRET-KEY-…) in it")
    return found


def _client(kubeconfig: Path | None) -> KubeClient:
    try:
        return KubeClient.from_kubeconfig(kubeconfig)
    except KubeconfigError as err:
        fail(str(err))


ARCHIVE_PREFIX = "secretloom-backup-"


def _prune(directory: Path, keep: Path, days: int) -> int:
    """Remove this command's archives in `directory` older than `days`; never `keep`."""
    cutoff = time.time() - days * 86400
    removed = 0
    for old in directory.glob(f"{ARCHIVE_PREFIX}*.age"):
        if old != keep and old.stat().st_mtime < cutoff:
            old.unlink()
            removed += 1
    return removed


def backup(
    recipient: Annotated[list[str], typer.Option(help="age recipient (repeatable).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Archive to write (age).")
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(help=f"Write {ARCHIVE_PREFIX}<UTC time>.age into this directory instead."),
    ] = None,
    retention_days: Annotated[
        int, typer.Option(min=0, help="With --output-dir: remove archives older than this.")
    ] = 0,
    namespaces: Annotated[
        str, typer.Option(help="Comma-separated namespaces (default: all, and cluster kinds).")
    ] = "",
    kubeconfig: KubeconfigOption = None,
    sealing_namespace: Annotated[
        str, typer.Option(help="Where the controller keeps its sealing keys.")
    ] = sealing.DEFAULT_CONTROLLER_NAMESPACE,
) -> None:
    """Write the sealing keys and every secretloom object, encrypted to age recipients."""
    if (output is None) == (output_dir is None):
        fail("give exactly one of --output FILE or --output-dir DIR")
    if retention_days and output_dir is None:
        fail("--retention-days needs --output-dir")
    if output_dir is not None:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        output = output_dir / f"{ARCHIVE_PREFIX}{stamp}.age"
    assert output is not None
    recipients = _recipients(recipient)
    scope = [n.strip() for n in namespaces.split(",") if n.strip()] or None

    async def run() -> list[Obj]:
        async with _client(kubeconfig) as client:
            return await collect(client, sealing_namespace, scope)

    try:
        objects = asyncio.run(run())
    except ApiError as err:
        fail(f"reading the cluster: {err}")
    document = {
        "format": FORMAT,
        "created": datetime.datetime.now(datetime.UTC).isoformat(),
        "sealingNamespace": sealing_namespace,
        "objects": objects,
    }
    sealed = pyrage.encrypt(json.dumps(document).encode(), recipients)
    partial = output.with_name(f".{output.name}.partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(sealed)
        partial.replace(output)
    except OSError as err:
        fail(f"--output {output}: {err.strerror}")
    kinds: dict[str, int] = {}
    for obj in objects:
        kinds[obj["kind"]] = kinds.get(obj["kind"], 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in kinds.items()) or "nothing"
    typer.echo(f"backed up {summary} to {output}", err=True)
    if output_dir is not None and retention_days:
        try:
            removed = _prune(output_dir, output, retention_days)
        except OSError as err:
            fail(f"--output-dir {output_dir}: pruning old archives: {err.strerror}")
        typer.echo(f"removed {removed} archive(s) older than {retention_days} days", err=True)


def restore(
    input_file: Annotated[Path, typer.Option("--input", "-i", help="Archive from `backup`.")],
    identity: Annotated[Path, typer.Option(help="age identity file that opens it.")],
    kubeconfig: KubeconfigOption = None,
) -> None:
    """Apply an archive from `secretloom backup`: keys first, then every object."""
    identities = _identities(identity)
    try:
        sealed = input_file.read_bytes()
    except OSError as err:
        fail(f"--input {input_file}: {err.strerror}")
    try:
        document = json.loads(pyrage.decrypt(sealed, identities))
    except pyrage.DecryptError:
        fail(f"--input {input_file}: not an age archive this identity opens")
    except ValueError:
        fail(f"--input {input_file}: not a secretloom backup")
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        fail(f"--input {input_file}: not a secretloom backup ({FORMAT})")
    try:
        objects = checked(document.get("objects") or [])
    except ArchiveError as err:
        fail(f"--input {input_file}: {err}; nothing was restored")
    started = time.monotonic()

    async def run() -> dict[str, int]:
        async with _client(kubeconfig) as client:
            return await apply_all(client, objects)

    try:
        counts = asyncio.run(run())
    except (RestoreError, ApiError) as err:
        fail(f"restore stopped: {err}")
    summary = ", ".join(f"{n} {k}" for k, n in counts.items()) or "nothing"
    typer.echo(f"restored {summary} in {time.monotonic() - started:.1f}s", err=True)
