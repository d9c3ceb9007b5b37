"""What kind of application a directory is, as Argo CD decides it.

A `Chart.yaml` makes a Helm chart; a kustomization file a Kustomize app;
anything else is a directory of plain manifests (`*.yaml`, `*.yml`,
`*.json` at the top level, not hidden, sorted; like Argo CD's directory
source without `recurse`). `discover` is the plugin's discovery check: a
`.sops.yaml`, a SOPS-encrypted file or a reference marker at the top level.
"""

from __future__ import annotations

import enum
from pathlib import Path

from secretloom.render import refs
from secretloom.sops import SopsError, detect_format, is_encrypted

KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


class Kind(enum.StrEnum):
    HELM = "helm"
    KUSTOMIZE = "kustomize"
    PLAIN = "plain"


def detect(app_dir: Path) -> Kind:
    if (app_dir / "Chart.yaml").is_file():
        return Kind.HELM
    if any((app_dir / name).is_file() for name in KUSTOMIZATIONS):
        return Kind.KUSTOMIZE
    return Kind.PLAIN


def manifests(app_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in app_dir.iterdir()
        if p.suffix in MANIFEST_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def discover(app_dir: Path) -> bool:
    if (app_dir / ".sops.yaml").is_file():
        return True
    root = app_dir.resolve()
    for path in manifests(app_dir):
        if not path.resolve().is_relative_to(root):
            continue  # a link out of the app: never read, not even one bit of it
        data = path.read_bytes()
        if is_sops_file(data, path) or refs.might_contain(data.decode("utf-8", "replace")):
            return True
    return False


def is_sops_file(data: bytes, path: Path) -> bool:
    try:
        return b"sops" in data and is_encrypted(data, detect_format(path))
    except SopsError:  # invalid YAML is reported by the renderer, with its line
        return False
