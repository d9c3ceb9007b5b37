"""`secretloom crds generate|check` and `secretloom install-crds`.

The committed YAML in deploy/crds/ (the CRDs) and deploy/admission/ (the
admission policies that check an author's rights, `api/admission.py`) is
generated from the models; `check` is the drift gate `make test` runs, over
both. `install-crds` applies the same objects, straight from the models.

The Helm chart (`--chart-dir`, deploy/chart/secretloom/) carries copies,
because Helm reads nothing outside a chart: the CRDs in its `crds/`, the
policies, the Argo CD plugin and health checks of deploy/ in its `files/`,
and the package version as its `version` and `appVersion`. They are written
and checked by the same two commands, so there is one gate, not one per copy.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer
import yaml

from secretloom import __version__
from secretloom.api import admission, crd
from secretloom.cli.errors import fail
from secretloom.runtime import crds as runtime_crds
from secretloom.runtime.kube import ApiError, KubeClient
from secretloom.runtime.kubeconfig import KubeconfigError

app = typer.Typer(
    help="Generate and check the CRD and admission-policy manifests, and the Helm chart's "
    "copies, from the resource models."
)
DEFAULT_DIR = Path("deploy/crds")
DEFAULT_ADMISSION_DIR = Path("deploy/admission")
DirArgument = Annotated[Path, typer.Argument(help="Directory of CRD YAML files.")]
AdmissionOption = Annotated[
    Path, typer.Option("--admission-dir", help="Directory of admission-policy YAML files.")
]
ChartOption = Annotated[
    Path | None,
    typer.Option(
        "--chart-dir",
        help="Helm chart whose CRDs, files/ and version are kept in step (in a checkout: "
        "deploy/chart/secretloom). Without it only the CRDs and policies are handled.",
    ),
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


class _Target(NamedTuple):
    directory: Path
    files: dict[str, str]  # path relative to `directory` -> expected text
    pattern: str | None  # files matching it that are not expected are drift; None: not checked


def _targets(directory: Path, admission_dir: Path, chart: Path | None) -> list[_Target]:
    crds, policies = rendered(), rendered_admission()
    manifests = [_Target(directory, crds, "*.yaml"), _Target(admission_dir, policies, "*.yaml")]
    if chart is None:
        return manifests  # e.g. from an installed wheel, which carries no chart
    deploy = chart.resolve().parents[1]  # the chart lives in deploy/chart/<name>/
    return [
        *manifests,
        _Target(chart / "crds", crds, "*.yaml"),
        _Target(chart / "files" / "admission", policies, "*.yaml"),
        _Target(
            chart / "files" / "argocd-cmp", _copies(deploy / "argocd-cmp", "plugin*.yaml"), "**/*"
        ),
        # Argo CD's resource_customizations layout: <group>/<Kind>/health.lua, actions/...
        _Target(
            chart / "files" / "argocd-health",
            _copies(deploy / "argocd" / "health", "**/*.lua"),
            "**/*",
        ),
        _Target(chart, {"Chart.yaml": _versioned(chart / "Chart.yaml")}, None),
    ]


def _copies(source: Path, pattern: str) -> dict[str, str]:
    return {p.relative_to(source).as_posix(): p.read_text() for p in sorted(source.glob(pattern))}


def _present(directory: Path, pattern: str | None) -> set[str]:
    if pattern is None:
        return set()
    return {p.relative_to(directory).as_posix() for p in directory.glob(pattern) if p.is_file()}


def _versioned(chart_yaml: Path) -> str:
    """Chart.yaml with `version` and `appVersion` set to the package's version."""
    try:
        text = chart_yaml.read_text()
    except OSError as err:
        fail(f"cannot read {chart_yaml}: {err.strerror}")
    text = re.sub(r"^version: .*$", f"version: {__version__}", text, count=1, flags=re.M)
    return re.sub(r"^appVersion: .*$", f'appVersion: "{__version__}"', text, count=1, flags=re.M)


@app.command()
def generate(
    directory: DirArgument = DEFAULT_DIR,
    admission_dir: AdmissionOption = DEFAULT_ADMISSION_DIR,
    chart_dir: ChartOption = None,
) -> None:
    """Write the CRDs, the admission policies and the Helm chart's copies of them.

    CRDs go to DIRECTORY, policies to --admission-dir, the chart's copies (and its
    version) into --chart-dir.
    """
    for target, files, _ in _targets(directory, admission_dir, chart_dir):
        for name, text in files.items():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_text(text)
            typer.echo(f"wrote {target / name}", err=True)


@app.command()
def check(
    directory: DirArgument = DEFAULT_DIR,
    admission_dir: AdmissionOption = DEFAULT_ADMISSION_DIR,
    chart_dir: ChartOption = None,
) -> None:
    """Exit 1 when the CRDs, admission policies or the chart's copies drift from the models."""
    drifted = []
    for target, files, pattern in _targets(directory, admission_dir, chart_dir):
        stale = [
            name
            for name, text in files.items()
            if not (target / name).is_file() or (target / name).read_text() != text
        ]
        extra = sorted(_present(target, pattern) - files.keys())
        if stale or extra:
            drifted.append(f"{target} (stale: {stale or 'none'}, unknown: {extra or 'none'})")
    if drifted:
        fail(
            f"manifests drift from the models in {'; '.join(drifted)}; "
            "run `secretloom crds generate`"
        )
    typer.echo(
        f"{len(rendered())} CRD(s), their admission policies and the chart match the models",
        err=True,
    )


def install_crds(kubeconfig: KubeconfigOption = None) -> None:
    """Apply the CRDs and the admission policies guarding them; wait until they are in force."""
    objects = admission.bundle()

    async def run() -> None:
        async with KubeClient.from_kubeconfig(kubeconfig) as client:
            await runtime_crds.install(client, objects)

    try:
        asyncio.run(run())
    except KubeconfigError as err:
        fail(str(err))
    except (ApiError, TimeoutError, OSError, runtime_crds.PolicyRejected) as err:
        fail(f"installing CRDs and admission policies failed: {err}")
    for obj in objects:
        typer.echo(f"{obj['kind'].lower()}/{obj['metadata']['name']} in force")
