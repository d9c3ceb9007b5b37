"""`secretloom seal`: seal values for the controller's certificate (issue #13).

Offline with `--cert FILE` (a certificate saved from the cluster or handed
out by the platform team), or fetching the current certificate from the
ConfigMap the controller publishes (`--kubeconfig`, `--controller-namespace`):
reading a public certificate needs no decryption endpoint. Values come from
`--from-literal KEY=VALUE` or `--from-file KEY=PATH` (a path of `-` is stdin).

Output: a SealedSecret of secretloom's own kind (default), Bitnami's
(`--format bitnami`, what `kubeseal --recovery-unseal` reads), or with
`--raw` the bare ciphertext of one value (for `from: {sealed: …}`). Values
are never printed; errors are one line.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml

from secretloom import seal as sealing
from secretloom.api import sealing as api
from secretloom.cli.errors import fail
from secretloom.runtime.kube import ApiError, KubeClient, Unreachable
from secretloom.runtime.kubeconfig import KubeconfigError
from secretloom.runtime.resources import CONFIGMAPS


def seal(
    name: Annotated[str, typer.Option(help="Name of the SealedSecret.")],
    namespace: Annotated[str, typer.Option(help="Namespace of the SealedSecret.")],
    target: Annotated[
        str,
        typer.Option(help="Target Secret (default: --name); a strict scope binds to it."),
    ] = "",
    from_literal: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE to seal (repeatable).")
    ] = None,
    from_file: Annotated[
        list[str] | None, typer.Option(help="KEY=PATH to seal; PATH - is stdin (repeatable).")
    ] = None,
    scope: Annotated[
        str, typer.Option(help="strict (namespace/name), namespace-wide or cluster-wide.")
    ] = "strict",
    cert: Annotated[Path | None, typer.Option(help="Certificate PEM to seal for, offline.")] = None,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(help="Without --cert: fetch the published certificate with this kubeconfig."),
    ] = None,
    controller_namespace: Annotated[
        str, typer.Option(help="Where the controller publishes its certificate.")
    ] = api.DEFAULT_CONTROLLER_NAMESPACE,
    output_format: Annotated[
        str, typer.Option("--format", help="secretloom (default) or bitnami.")
    ] = "secretloom",
    raw: Annotated[bool, typer.Option(help="Print only the ciphertext of the one value.")] = False,
    secret_type: Annotated[str, typer.Option("--type", help="Target Secret type.")] = "Opaque",  # noqa: S107 (a type name)
) -> None:
    """Seal values for the controller's certificate; print the SealedSecret."""
    if scope not in sealing.SCOPES:
        fail(f"--scope must be one of {', '.join(sealing.SCOPES)}, got {scope!r}")
    if output_format not in sealing.FLAVOURS:
        fail(f"--format must be secretloom or bitnami, got {output_format!r}")
    values = _values(from_literal or [], from_file or [])
    if not values:
        fail("nothing to seal: give --from-literal KEY=VALUE or --from-file KEY=PATH")
    if raw and len(values) != 1:
        fail("--raw seals exactly one value")
    target = target or name
    if output_format == "bitnami" and target != name:
        fail("--format bitnami writes into a Secret of the SealedSecret's own name: drop --target")
    cert_pem = (
        _read_cert(cert) if cert is not None else _fetch_cert(kubeconfig, controller_namespace)
    )
    try:
        public = sealing.certificate_public_key(cert_pem)
    except sealing.KeyFormatError as err:
        fail(f"certificate: {err}")
    encrypted = sealing.seal_values(
        public,
        values,
        scope=scope,
        namespace=namespace,
        name=target,
    )
    if raw:
        typer.echo(next(iter(encrypted.values())))
        return
    doc = sealing.document(
        encrypted,
        scope=scope,
        namespace=namespace,
        name=name,
        target=target,
        flavour=output_format,
        target_type=secret_type,
    )
    typer.echo(yaml.safe_dump(doc, sort_keys=False), nl=False)


def _values(literals: list[str], files: list[str]) -> dict[str, bytes]:
    values: dict[str, bytes] = {}
    for flag, items in (("--from-literal", literals), ("--from-file", files)):
        for item in items:
            key, sep, rest = item.partition("=")
            if not sep or not key:
                fail(f"{flag} must be KEY=…, got an item without a key")
            if key in values:
                fail(f"key {key!r} given twice")
            values[key] = rest.encode() if flag == "--from-literal" else _read_value(key, rest)
    return values


def _read_value(key: str, path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as err:
        fail(f"--from-file {key}={path}: {err.strerror}")


def _read_cert(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        fail(f"--cert {path}: {err.strerror}")


def _fetch_cert(kubeconfig: Path | None, namespace: str) -> bytes:
    async def fetch() -> bytes:
        async with KubeClient.from_kubeconfig(kubeconfig) as client:
            cm = await client.get(CONFIGMAPS.path(namespace, api.CERT_CONFIGMAP))
        pem = (cm.get("data") or {}).get(api.CERT_KEY, "")
        return str(pem).encode()

    try:
        return asyncio.run(fetch())
    except KubeconfigError as err:
        fail(str(err))
    except Unreachable as err:
        fail(f"cannot reach the cluster to fetch the certificate: {err}")
    except ApiError as err:
        fail(
            f"ConfigMap {namespace}/{api.CERT_CONFIGMAP} (the published certificate): {err}; "
            "is the controller running with sealing enabled, or pass --cert"
        )
