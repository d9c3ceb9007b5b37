"""`secretloom crds generate|check` and `secretloom install-crds`.

The committed YAML in deploy/crds/ is generated from the models; `check` is the
drift gate `make test` runs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
import yaml

from secretloom.api import crd
from secretloom.cli.errors import fail
from secretloom.runtime import crds as runtime_crds
from secretloom.runtime.kube import ApiError, KubeClient

app = typer.Typer(help="Generate and check the CRD manifests from the resource models.")
DEFAULT_DIR = Path("deploy/crds")
DirArgument = Annotated[Path, typer.Argument(help="Directory of CRD YAML files.")]
KubeconfigOption = Annotated[
    Path | None, typer.Option("--kubeconfig", help="Kubeconfig (default: $KUBECONFIG, in-cluster).")
]


def rendered() -> dict[str, str]:
    """File name -> YAML text for every resource, as `generate` writes it."""
    return {
        f"{r.name}.yaml": yaml.safe_dump(crd.definition(r), sort_keys=False, width=100)
        for r in crd.RESOURCES
    }


@app.command()
def generate(directory: DirArgument = DEFAULT_DIR) -> None:
    """Write the CRD YAML into DIRECTORY."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in rendered().items():
        (directory / name).write_text(text)
        typer.echo(f"wrote {directory / name}", err=True)


@app.command()
def check(directory: DirArgument = DEFAULT_DIR) -> None:
    """Exit 1 when the committed CRDs differ from the models."""
    expected = rendered()
    stale = [
        name
        for name, text in expected.items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]
    extra = sorted(p.name for p in directory.glob("*.yaml") if p.name not in expected)
    if stale or extra:
        fail(
            f"CRDs in {directory} drift from the models (stale: {stale or 'none'}, "
            f"unknown: {extra or 'none'}); run `secretloom crds generate`"
        )
    typer.echo(f"{len(expected)} CRD(s) match the models", err=True)


def install_crds(kubeconfig: KubeconfigOption = None) -> None:
    """Apply the CRDs (server-side apply) and wait until they are established."""

    async def run() -> None:
        async with KubeClient.from_kubeconfig(kubeconfig) as client:
            await runtime_crds.install(client, [crd.definition(r) for r in crd.RESOURCES])

    try:
        asyncio.run(run())
    except (ApiError, TimeoutError, OSError) as err:
        fail(f"installing CRDs failed: {err}")
    for resource in crd.RESOURCES:
        typer.echo(f"customresourcedefinition/{resource.name} established")
