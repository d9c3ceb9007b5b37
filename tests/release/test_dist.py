"""The release artifacts as a user gets them: `make dist`, then the wheel in a fresh virtualenv.

`make dist` builds the sdist, then the wheel from it, and runs `twine check --strict` on both (a
failure fails the fixture). The wheel is installed into a new virtualenv (dependencies pinned to
uv.lock, so the run is reproducible) and every command runs from a directory outside the
repository with nothing of the checkout on its path. That is what used to break: `secretloom
demo` read `examples/argocd-notifications` relative to the working directory, and the Vault
example and the control-plane build script through `parents[3]` of the installed module, which
from site-packages points at nothing. The wheel now carries them (pyproject's force-include,
`secretloom.testing.assets`), and the demo below runs its whole scenario, Vault variant
included, with only what the wheel carries.
"""

from __future__ import annotations

import os
import subprocess
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest

from secretloom import __version__
from secretloom.testing import cluster as local
from secretloom.testing.openbao import find_bao

REPO = Path(__file__).resolve().parents[2]
UV = REPO / ".venv" / "bin" / "uv"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        ["make", "--no-print-directory", "dist", f"DIST_DIR={out}"],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with only the wheel (and its locked dependencies) installed."""
    root = tmp_path_factory.mktemp("venv")
    pins = root / "constraints.txt"
    subprocess.run(
        [
            *(UV, "export", "--project", REPO, "--frozen", "--no-dev", "--no-emit-project"),
            *("--no-hashes", "--quiet", "--output-file", pins),
        ],
        check=True,
        timeout=120,
    )
    subprocess.run([UV, "venv", "--quiet", "--python", "3.11", root / "env"], check=True)
    subprocess.run(
        [
            *(UV, "pip", "install", "--quiet", "--python", root / "env" / "bin" / "python"),
            *("--constraint", pins, dist / f"secretloom-{__version__}-py3-none-any.whl"),
        ],
        check=True,
        timeout=300,
    )
    return root / "env"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working directory that is not the checkout and holds none of its files."""
    assert not tmp_path.resolve().is_relative_to(REPO)
    return tmp_path


def run(
    venv: Path, cwd: Path, *args: str, extra_path: tuple[Path, ...] = (), **env: str
) -> subprocess.CompletedProcess[str]:
    """`secretloom ARGS` of the venv, with no trace of the checkout on PATH or PYTHONPATH."""
    inherited = os.environ["PATH"].split(os.pathsep)
    path = [str(venv / "bin"), *map(str, extra_path)]
    path += [p for p in inherited if not Path(p).resolve().is_relative_to(REPO)]
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [venv / "bin" / "secretloom", *args],
        cwd=cwd,
        env={**clean, **env, "PATH": os.pathsep.join(path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_artifacts_carry_the_version_and_the_license(dist: Path) -> None:
    wheel = dist / f"secretloom-{__version__}-py3-none-any.whl"
    sdist = dist / f"secretloom-{__version__}.tar.gz"
    assert sorted(p.name for p in dist.glob("secretloom-*")) == sorted([wheel.name, sdist.name])
    with zipfile.ZipFile(wheel) as archive:
        meta = HeaderParser().parsestr(
            archive.read(f"secretloom-{__version__}.dist-info/METADATA").decode()
        )
        names = set(archive.namelist())
    assert meta["Version"] == __version__
    assert meta["License-Expression"] == "Apache-2.0"
    assert f"secretloom-{__version__}.dist-info/licenses/LICENSE" in names
    assert (REPO / "LICENSE").read_text().lstrip().startswith("Apache License")


def test_installed_wheel_is_what_runs(venv: Path, outside: Path) -> None:
    done = subprocess.run(
        [venv / "bin" / "python", "-c", "import secretloom; print(secretloom.__file__)"],
        cwd=outside,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(done.stdout.strip()).is_relative_to(venv)


def test_version_is_the_one_source(venv: Path, outside: Path) -> None:
    done = run(venv, outside, "--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"secretloom {__version__}\n", "")


def test_crds_generate_outside_the_checkout_writes_the_committed_manifests(
    venv: Path, outside: Path
) -> None:
    done = run(venv, outside, "crds", "generate", "crds", "--admission-dir", "admission")
    assert done.returncode == 0, done.stderr
    for kind in ("crds", "admission"):
        committed = {p.name: p.read_text() for p in (REPO / "deploy" / kind).glob("*.yaml")}
        written = {p.name: p.read_text() for p in (outside / kind).glob("*.yaml")}
        assert written == committed, kind


@pytest.mark.parametrize("command", ["render", "install-crds", "controller", "demo"])
def test_every_command_answers_its_help(venv: Path, outside: Path, command: str) -> None:
    done = run(venv, outside, command, "--help")
    assert done.returncode == 0, done.stderr
    assert f"Usage: secretloom {command}" in done.stdout


def test_demo_runs_from_the_wheel_alone(venv: Path, outside: Path) -> None:
    """The whole demo, Vault variant included, with the wheel's examples and build files.

    A private cache directory whose `controlplane/` is the warm one: the wheel's copy of
    hack/build-controlplane.sh keys the build by its own bytes and its Go modules', so it finds
    the cached binaries only if the wheel carries them unchanged (otherwise: a cold build and a
    timeout, not a pass).
    """
    local.binaries()  # warm the checkout's build first (instant when `make test` did)
    cache = outside / "cache"
    cache.mkdir()
    (cache / "controlplane").symlink_to(local.cache_root() / "controlplane")
    tools = outside / "bin"  # `bao` alone: the demo finds it on PATH, as a user's would be
    tools.mkdir()
    (tools / "bao").symlink_to(find_bao())
    done = run(venv, outside, "demo", extra_path=(tools,), SECRETLOOM_CACHE_DIR=str(cache))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Vault variant skipped" not in done.stdout
    assert "Vault variant" in done.stdout
    assert "rotated" in done.stdout
