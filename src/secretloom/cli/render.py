"""`secretloom render`: the Argo CD Config Management Plugin's generate command.

Run in the application directory (Argo CD's cwd) with Argo CD's environment;
prints multi-document YAML on stdout and nothing else. Every failure is one
line on stderr naming a file or a reference, with a non-zero exit and an
empty stdout, so Argo CD shows the error and keeps the last good manifests.

The flags are the operator's (they live in plugin.yaml); nothing here can be
set through the app's ARGOCD_ENV_* parameters.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from secretloom.cli.errors import fail
from secretloom.providers.egress import EgressPolicy
from secretloom.render import app as render_app
from secretloom.render.errors import RenderError
from secretloom.render.pipeline import Options
from secretloom.render.pipeline import render as render_app_dir
from secretloom.sops import KeySources, SopsError


def render(
    app_dir: Annotated[
        Path, typer.Option(help="Application directory (default: cwd, as Argo CD runs it).")
    ] = Path(),
    stores: Annotated[
        Path | None,
        typer.Option(
            envvar="SECRETLOOM_STORES",
            help="Offline store config for ref+vault:// (see docs/render.md).",
        ),
    ] = None,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(help="Read SecretStores and k8s references through this kubeconfig."),
    ] = None,
    in_cluster: Annotated[
        bool, typer.Option(help="Use the pod's service account instead.")
    ] = False,
    allow_namespace: Annotated[
        list[str] | None,
        typer.Option(help="Namespaces k8s references may read (default: the app's)."),
    ] = None,
    allow_env: Annotated[
        list[str] | None, typer.Option(help="Extra variables ref+env:// may read.")
    ] = None,
    store_servers: Annotated[
        str,
        typer.Option(
            envvar="SECRETLOOM_STORE_SERVERS",
            help="Comma-separated host names, *.suffixes, IPs or CIDRs (each optionally :port) "
            "store servers may be at. Empty: anywhere.",
        ),
    ] = "",
    helm: Annotated[str, typer.Option(envvar="SECRETLOOM_HELM", help="helm binary.")] = "helm",
    kustomize: Annotated[
        str, typer.Option(envvar="SECRETLOOM_KUSTOMIZE", help="kustomize binary.")
    ] = "kustomize",
    discover: Annotated[
        bool,
        typer.Option(help="Only print the app kind if secretloom should render this directory."),
    ] = False,
) -> None:
    """Render an Argo CD application directory with secrets decrypted and references resolved."""
    directory = app_dir.resolve()
    if not directory.is_dir():
        fail(f"{app_dir}: not a directory")
    if discover:
        if render_app.discover(directory):
            typer.echo(render_app.detect(directory).value)
        return
    if kubeconfig is not None and in_cluster:
        fail("--kubeconfig and --in-cluster exclude each other")
    try:
        egress = EgressPolicy.parse(store_servers)
    except ValueError as err:
        fail(f"--store-servers: {err}")
    options = Options(
        app_dir=directory,
        env=dict(os.environ),
        keys=KeySources.from_env(),
        allowed_env=frozenset(allow_env or ()),
        allowed_namespaces=frozenset(allow_namespace) if allow_namespace else None,
        stores_file=stores,
        store_servers=egress,
        kubeconfig=kubeconfig,
        in_cluster=in_cluster,
        helm=helm,
        kustomize=kustomize,
    )
    try:
        output = asyncio.run(render_app_dir(options))
    except (RenderError, SopsError) as err:
        fail(str(err))
    except OSError as err:
        fail(f"{err.filename or 'render'}: {err.strerror}")
    sys.stdout.write(output)
