"""Symlinks cannot carry `secretloom render` out of the application (CVE-2022-24348 class).

The security review's attack, end to end: the plugin command exactly as Argo
CD's sidecar runs it (`run_render`/`cmp_env` of test_render_e2e.py), the real
helm and kustomize, and a sidecar holding the example's age private key at
SOPS_AGE_KEY_FILE. A chart with `files/k -> <that key file>` and
`{{ .Files.Get "files/k" }}` used to print the key with exit 0; every link
that escapes, dangles or loops must now fail the render with one line naming
the link (never its target) and nothing on stdout. Links that stay inside the
app, or inside the repository checkout when Argo CD says where that is, keep
rendering.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from secretloom.render.links import MAX_ENTRIES
from tests.render.test_render_e2e import EXAMPLE, cmp_env, documents, run_render
from tests.render.test_render_safety import CHART_YAML

OUT_OF_APP = "it resolves outside the application directory (CVE-2022-24348 class)"
OUT_OF_REPO = "it resolves outside the repository (CVE-2022-24348 class)"


@pytest.fixture
def sidecar(tmp_path: Path) -> Path:
    """The sidecar's own files, outside every checkout: its age key and its stores file."""
    root = tmp_path / "sidecar"
    shutil.copytree(EXAMPLE / "keys", root / "keys")
    shutil.copy(EXAMPLE / "stores.yaml", root / "stores.yaml")
    return root


@pytest.fixture
def key_file(sidecar: Path) -> Path:
    """What SOPS_AGE_KEY_FILE points at in `cmp_env`."""
    return sidecar / "keys" / "demo-age-key.txt"


@pytest.fixture
def private_key(key_file: Path) -> str:
    lines = key_file.read_text().splitlines()
    return next(line for line in lines if line.startswith("AGE-SECRET-KEY-"))


@pytest.fixture
def stolen(sidecar: Path, private_key: str) -> Path:
    """A manifest outside the app that leaks the key if anything renders it."""
    path = sidecar / "stolen.yaml"
    path.write_text(configmap("stolen", private_key))
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The checkout; apps live at repo/apps/<name> (ARGOCD_APP_SOURCE_PATH=apps/<name>)."""
    root = tmp_path / "repo"
    (root / "apps").mkdir(parents=True)
    return root


@pytest.fixture
def shared(repo: Path) -> Path:
    """A file shared by several apps of the repository, outside each of them."""
    (repo / "shared").mkdir()
    (repo / "shared" / "ca.pem").write_text("shared-ca")
    return repo / "shared"


def configmap(name: str, value: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{v: {value!r}}}\n"


def files_get(name: str, path: str) -> str:
    """A template rendering the chart file at `path` into ConfigMap `name` (the exfiltration)."""
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n"
        f'data:\n  v: {{{{ .Files.Get "{path}" | quote }}}}\n'
    )


def chart(root: Path, **templates: str) -> Path:
    (root / "templates").mkdir(parents=True)
    (root / "Chart.yaml").write_text(CHART_YAML)
    for name, text in templates.items():
        (root / "templates" / f"{name}.yaml").write_text(text)
    return root


def link(path: Path, target: Path | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def render(app: Path, sidecar: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_render(app, cmp_env(sidecar, "unused-token", **env))


def rendered(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """ConfigMap name -> its `v`, of a successful render."""
    assert done.returncode == 0, done.stderr
    return {d["metadata"]["name"]: d["data"]["v"] for d in documents(done.stdout).values()}


def assert_refused(done: subprocess.CompletedProcess[str], shown: str, why: str) -> None:
    """One line naming the link as the tools reach it from the app, exit 1, empty stdout."""
    expected = f"secretloom: error: refusing symlink {shown}: {why}\n"
    assert (done.returncode, done.stdout, done.stderr) == (1, "", expected)


@pytest.mark.parametrize("name", ["files/k", ".k", "files/a/b/k"])
def test_files_get_of_the_sidecar_key_is_refused(
    repo: Path, sidecar: Path, key_file: Path, private_key: str, name: str
) -> None:
    app = chart(repo / "apps" / "web", leak=files_get("leak", name))
    link(app / name, key_file)
    done = render(app, sidecar)
    assert_refused(done, name, OUT_OF_APP)
    assert private_key not in done.stdout + done.stderr


def test_symlinked_template_out_of_the_app_is_refused(
    repo: Path, sidecar: Path, stolen: Path
) -> None:
    app = chart(repo / "apps" / "web")
    link(app / "templates" / "x.yaml", stolen)
    assert_refused(render(app, sidecar), "templates/x.yaml", OUT_OF_APP)


def test_link_in_a_chart_dependency_is_refused(repo: Path, sidecar: Path, stolen: Path) -> None:
    app = chart(repo / "apps" / "web")
    chart(app / "charts" / "dep")
    link(app / "charts" / "dep" / "templates" / "x.yaml", stolen)
    assert_refused(render(app, sidecar), "charts/dep/templates/x.yaml", OUT_OF_APP)


@pytest.mark.parametrize(
    ("kustomization", "name", "target"),
    [
        # kustomize's default load restrictor refuses these two as well (quoting absolute
        # paths of the sidecar) ...
        ("resources: [cm.yaml]", "cm.yaml", "stolen.yaml"),
        ("configMapGenerator: [{name: k, files: [k]}]", "k", "keys/demo-age-key.txt"),
        # ... but not a kustomization directory: only the walk stops this one.
        ("resources: [base]", "base", "."),
    ],
    ids=["resource", "generator-file", "base-directory"],
)
def test_kustomize_files_linked_out_of_the_app_are_refused(
    repo: Path, sidecar: Path, stolen: Path, kustomization: str, name: str, target: str
) -> None:
    (sidecar / "kustomization.yaml").write_text("resources: [stolen.yaml]\n")
    app = repo / "apps" / "kust"
    app.mkdir()
    (app / "kustomization.yaml").write_text(kustomization + "\n")
    link(app / name, sidecar / target)
    assert_refused(render(app, sidecar), name, OUT_OF_APP)


@pytest.mark.parametrize(
    ("links", "shown", "why"),
    [
        ({"templates/x.yaml": "missing.yaml"}, "templates/x.yaml", "its target does not exist"),
        (
            {"templates/a.yaml": "b.yaml", "templates/b.yaml": "a.yaml"},
            "templates/a.yaml",
            "it loops",
        ),
        ({"templates/x.yaml": "x.yaml"}, "templates/x.yaml", "it loops"),
        ({"files/up": ".."}, "files/up", "it loops"),
        ({"files/a/to-b": "../b", "files/b/to-a": "../a"}, "files/a/to-b/to-a", "it loops"),
    ],
    ids=["dangling", "file-cycle", "self", "dir-to-ancestor", "dir-cycle"],
)
def test_dangling_and_looping_links_are_refused(
    repo: Path, sidecar: Path, links: dict[str, str], shown: str, why: str
) -> None:
    app = chart(repo / "apps" / "web")
    for name, target in links.items():
        link(app / name, target)
    assert_refused(render(app, sidecar), shown, why)


def test_a_huge_directory_fails_fast_with_one_line(repo: Path, sidecar: Path) -> None:
    many = repo / "apps" / "plain" / "many"
    many.mkdir(parents=True)
    # Hard links are directory entries like any other, several times cheaper to make than
    # files; two seeds stay below the filesystem's per-inode link limit.
    seeds = [repo / "seed-0", repo / "seed-1"]
    for seed in seeds:
        seed.touch()
    for i in range(100_000):
        (many / str(i)).hardlink_to(seeds[i % 2])
    done = render(many.parent, sidecar)
    expected = (
        f"secretloom: error: more than {MAX_ENTRIES:,} files and directories to check "
        "for symlinks; refusing to render\n"
    )
    assert (done.returncode, done.stdout, done.stderr) == (1, "", expected)


def test_links_inside_the_app_still_render(repo: Path, sidecar: Path) -> None:
    app = chart(
        repo / "apps" / "web", file=files_get("file", "files/k"), dir=files_get("dir", "more/k")
    )
    (app / "data").mkdir()
    (app / "data" / "k").write_text("inside")
    (app / "shared").mkdir()
    (app / "shared" / "cm.yaml").write_text(configmap("linked", "template"))
    (app / "shared" / "dep.yaml").write_text(configmap("dep", "dependency"))
    link(app / "files" / "k", "../data/k")
    link(app / "more", "data")
    link(app / "templates" / "x.yaml", "../shared/cm.yaml")
    chart(app / "charts" / "dep")
    link(app / "charts" / "dep" / "templates" / "x.yaml", "../../../shared/dep.yaml")
    assert rendered(render(app, sidecar)) == {
        "file": "inside",
        "dir": "inside",
        "linked": "template",
        "dep": "dependency",
    }


def test_kustomize_resource_linked_inside_the_app_still_renders(repo: Path, sidecar: Path) -> None:
    app = repo / "apps" / "kust"
    (app / "manifests").mkdir(parents=True)
    (app / "manifests" / "cm.yaml").write_text(configmap("linked", "kustomized"))
    (app / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    link(app / "cm.yaml", "manifests/cm.yaml")
    assert rendered(render(app, sidecar)) == {"linked": "kustomized"}


def test_links_into_the_repository_render_when_argo_cd_names_the_app_path(
    repo: Path, sidecar: Path, shared: Path
) -> None:
    app = chart(repo / "apps" / "web", ca=files_get("ca", "files/ca.pem"))
    link(app / "files" / "ca.pem", "../../../shared/ca.pem")
    assert rendered(render(app, sidecar, ARGOCD_APP_SOURCE_PATH="apps/web/")) == {"ca": "shared-ca"}


@pytest.mark.parametrize(
    "source_path",
    ["", "examples/argocd-cmp-app/chart", "other/web", "/apps/web", "../apps/web", "x/../web"],
)
def test_without_argo_cd_naming_the_app_path_the_root_is_the_app(
    repo: Path, sidecar: Path, shared: Path, source_path: str
) -> None:
    app = chart(repo / "apps" / "web", ca=files_get("ca", "files/ca.pem"))
    link(app / "files" / "ca.pem", "../../../shared/ca.pem")
    done = render(app, sidecar, ARGOCD_APP_SOURCE_PATH=source_path)
    assert_refused(done, "files/ca.pem", OUT_OF_APP)


@pytest.mark.parametrize(
    ("target", "shown", "why"),
    [("../../../shared", "files/common/k", OUT_OF_REPO), ("../../..", "files/common", "it loops")],
    ids=["link-out-in-a-linked-directory", "link-to-the-repository-root"],
)
def test_directories_linked_from_the_repository_are_checked_too(
    repo: Path, sidecar: Path, shared: Path, key_file: Path, target: str, shown: str, why: str
) -> None:
    link(shared / "k", key_file)
    app = chart(repo / "apps" / "web", leak=files_get("leak", "files/common/k"))
    link(app / "files" / "common", target)
    assert_refused(render(app, sidecar, ARGOCD_APP_SOURCE_PATH="apps/web"), shown, why)
