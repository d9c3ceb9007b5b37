"""What kind of application a directory is, as Argo CD decides it.

A `Chart.yaml` makes a Helm chart; a kustomization file a Kustomize app;
anything else is a directory of plain manifests (`*.yaml`, `*.yml`,
`*.json` at the top level, not hidden, sorted; like Argo CD's directory
source without `recurse`). `discover` is the plugin's discovery check: a
`.sops.yaml`, a SOPS-encrypted file or a reference marker at the top level.

Discovery runs on every repository Argo CD looks at, so it never parses: it
scans each manifest's first `limits.MAX_FILE_BYTES` for the top-level `sops`
key, an encrypted value or a reference marker. A manifest that merely
contains the word `sops` used to be parsed in full, and a billion-laughs
one held the repo server for minutes. `is_sops_file` scans the same way and
parses (within `limits`) only the files the scan flags.
"""

from __future__ import annotations

import enum
from pathlib import Path

from secretloom.render import refs
from secretloom.render.errors import RenderError
from secretloom.sops import (
    MAX_FILE_BYTES,
    SopsError,
    detect_format,
    holds_encrypted_values,
    is_encrypted,
    mentions_metadata,
    read_bounded,
)

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
        try:
            with path.open("rb") as file:
                data = file.read(MAX_FILE_BYTES)
        except OSError:
            continue  # unreadable: no evidence either way, and discovery never fails
        if (
            mentions_metadata(data, detect_format(path))
            or holds_encrypted_values(data)  # to refuse it, not to pass it on as it is
            or refs.might_contain(data.decode("utf-8", "replace"))
        ):
            return True
    return False


def is_sops_file(data: bytes, path: Path, *, name: str) -> bool:
    """Whether a manifest is SOPS-encrypted: scanned first, parsed only if the scan says so.

    A flagged file that does not parse is an error naming `name`: the
    renderer must not pass a damaged SOPS file on as a plain manifest.
    """
    fmt = detect_format(path)
    if not mentions_metadata(data, fmt):
        return False
    try:
        return is_encrypted(data, fmt, source=name)
    except SopsError as err:
        raise RenderError(str(err)) from None


def read(path: Path, *, name: str) -> bytes:
    """A file of the app, refused past `limits.MAX_FILE_BYTES`; `name` is how errors call it."""
    try:
        return read_bounded(path, name=name)
    except SopsError as err:
        raise RenderError(str(err)) from None


def text(data: bytes, *, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RenderError(f"{name}: not UTF-8 text") from None
