"""`secretloom crds generate|check` and `secretloom install-crds`.

The committed YAML in deploy/crds/ (the CRDs) and deploy/admission/ (the
admission policies that check an author's rights, `api/admission.py`) is
generated from the models; `check` is the drift gate `make test` runs, over
both. `install-crds` applies the same objects, straight from the models.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from secretloom.api import admission, crd
from secretloom.cli.errors import fail
from secretloom.runtime import crds as runtime_crds
from secretloom.runtime.kube import ApiError, KubeClient

app = typer.Typer(
    help="Generate and check the CRD and admission-policy manifests from the resource models."
)
DEFAULT_DIR = Path("deploy/crds")
DEFAULT_ADMISSION_DIR = Path("deploy/admission")
DirArgument = Annotated[Path, typer.Argument(help="Directory of CRD YAML files.")]
AdmissionOption = Annotated[
    Path, typer.Option("--admission-dir", help="Directory of admission-policy YAML files.")
]
KubeconfigOption = Annotated[
    Path | None, typer.Option("--kubeconfig", help="Kubeconfig (default: $KUBECONFIG, in-cluster).")
]


class _FoldedDumper(yaml.SafeDumper):
    """Long strings (CEL expressions) as folded blocks: no quote escaping to read through."""


def _folded(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = ">" if len(text) > 60 and "\n" not in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_FoldedDumper.add_representer(str, _folded)


def rendered() -> dict[str, str]:
    """File name -> YAML text for every resource, as `generate` writes it."""
    return {
        f"{r.name}.yaml": yaml.safe_dump(crd.definition(r), sort_keys=False, width=100)
        for r in crd.RESOURCES
    }


def rendered_admission() -> dict[str, str]:
    """File name -> YAML text of the policies and bindings guarding each resource."""
    return {f"{name}.yaml": _dump_all(documents) for name, documents in admission.files().items()}


def _dump_all(documents: list[dict[str, Any]]) -> str:
    return yaml.dump_all(documents, Dumper=_FoldedDumper, sort_keys=False, width=100)


def _targets(directory: Path, admission_dir: Path) -> list[tuple[Path, dict[str, str]]]:
    return [(directory, rendered()), (admission_dir, rendered_admission())]


@app.command()
def generate(
    directory: DirArgument = DEFAULT_DIR, admission_dir: AdmissionOption = DEFAULT_ADMISSION_DIR
) -> None:
    """Write the CRD YAML into DIRECTORY and the admission policies into --admission-dir."""
    for target, files in _targets(directory, admission_dir):
        target.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (target / name).write_text(text)
            typer.echo(f"wrote {target / name}", err=True)


@app.command()
def check(
    directory: DirArgument = DEFAULT_DIR, admission_dir: AdmissionOption = DEFAULT_ADMISSION_DIR
) -> None:
    """Exit 1 when the committed CRDs or admission policies differ from the models."""
    drifted = []
    for target, files in _targets(directory, admission_dir):
        stale = [
            name
            for name, text in files.items()
            if not (target / name).is_file() or (target / name).read_text() != text
        ]
        extra = sorted(p.name for p in target.glob("*.yaml") if p.name not in files)
        if stale or extra:
            drifted.append(f"{target} (stale: {stale or 'none'}, unknown: {extra or 'none'})")
    if drifted:
        fail(
            f"manifests drift from the models in {'; '.join(drifted)}; "
            "run `secretloom crds generate`"
        )
    typer.echo(f"{len(rendered())} CRD(s) and their admission policies match the models", err=True)


def install_crds(kubeconfig: KubeconfigOption = None) -> None:
    """Apply the CRDs and the admission policies guarding them; wait until they are in force."""
    objects = admission.bundle()

    async def run() -> None:
        async with KubeClient.from_kubeconfig(kubeconfig) as client:
            await runtime_crds.install(client, objects)

    try:
        asyncio.run(run())
    except (ApiError, TimeoutError, OSError, runtime_crds.PolicyRejected) as err:
        fail(f"installing CRDs and admission policies failed: {err}")
    for obj in objects:
        typer.echo(f"{obj['kind'].lower()}/{obj['metadata']['name']} in force")
