"""One drift gate covers the chart's copies: `secretloom crds check` (`make crds-check`).

Helm reads nothing outside the chart, so the chart carries copies of the
CRDs, the admission policies, the Argo CD plugin and health checks, and the
package version. These tests run the gate on a scratch copy of deploy/ and
change one copy at a time: each change must fail the gate, naming the file.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import typer

import secretloom
from secretloom.cli import crds


@pytest.fixture(scope="module")
def generated(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/ copied to a scratch directory, with the chart regenerated from the models."""
    scratch = tmp_path_factory.mktemp("gate") / "deploy"
    shutil.copytree(repo_root / "deploy", scratch, symlinks=True)
    crds.generate(*gate_args(scratch))
    return scratch


@pytest.fixture
def deploy(generated: Path, tmp_path: Path) -> Path:
    """A private copy of the generated tree, for one change."""
    return Path(shutil.copytree(generated, tmp_path / "deploy", symlinks=True))


def gate_args(deploy: Path) -> tuple[Path, Path, Path]:
    return deploy / "crds", deploy / "admission", deploy / "chart" / "secretloom"


CHART = Path("chart/secretloom")


def edit_crd_copy(deploy: Path) -> None:
    copy = deploy / CHART / "crds/secretsyncs.secretloom.io.yaml"
    copy.write_text(copy.read_text().upper())


def edit_policy_copy(deploy: Path) -> None:
    copy = deploy / CHART / "files/admission/secretstores.secretloom.io.yaml"
    copy.write_text(copy.read_text().replace("'get'", "'list'"))


def add_stray_crd(deploy: Path) -> None:
    (deploy / CHART / "crds/extra.yaml").write_text("kind: Nothing\n")


def change_plugin_source(deploy: Path) -> None:
    with (deploy / "argocd-cmp/plugin.yaml").open("a") as plugin:
        plugin.write("# changed\n")


def add_health_check_source(deploy: Path) -> None:
    kind = deploy / "argocd/health/example.io/Thing"
    kind.mkdir(parents=True)
    (kind / "health.lua").write_text("return {}\n")


def edit_app_version(deploy: Path) -> None:
    chart = deploy / CHART / "Chart.yaml"
    version = f'appVersion: "{secretloom.__version__}"'
    chart.write_text(chart.read_text().replace(version, 'appVersion: "9.9.9"'))


# change -> (what the gate's message must name, the change)
CHANGES: dict[str, tuple[str, Callable[[Path], None]]] = {
    "a CRD copy edited": ("secretsyncs.secretloom.io.yaml", edit_crd_copy),
    "an admission policy copy edited": ("secretstores.secretloom.io.yaml", edit_policy_copy),
    "a stray CRD in the chart": ("extra.yaml", add_stray_crd),
    "the plugin changed in deploy/ only": ("plugin.yaml", change_plugin_source),
    "a health check added in deploy/ only": (
        "example.io/Thing/health.lua",
        add_health_check_source,
    ),
    "the chart's appVersion edited": ("Chart.yaml", edit_app_version),
}


def test_a_generated_tree_passes_the_gate(deploy: Path) -> None:
    crds.check(*gate_args(deploy))


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_the_gate_fails_on_each_drifted_copy(
    deploy: Path, change: str, capsys: pytest.CaptureFixture[str]
) -> None:
    named, apply = CHANGES[change]
    apply(deploy)
    capsys.readouterr()
    with pytest.raises(typer.Exit):
        crds.check(*gate_args(deploy))
    message = capsys.readouterr().err
    assert named in message, message
    assert "secretloom crds generate" in message
    crds.generate(*gate_args(deploy))
    if change != "a stray CRD in the chart":  # generate never deletes: the file stays unknown
        crds.check(*gate_args(deploy))
