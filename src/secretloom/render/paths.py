"""Paths inside the application directory, and nowhere else.

Argo CD CVE-2022-24348 and helm-secrets #496 were values files read from
outside the app through `..` or absolute paths (or symlinks). Every path a
user names goes through `confine`: it must be relative, must not contain `..`,
and must still be inside the app directory after resolving symlinks. Links
that helm and kustomize follow on their own are checked by `links`, before
either runs.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from secretloom.render.errors import RenderError


def confine(root: Path, relative: str, *, what: str) -> Path:
    """`root/relative`, refusing any escape; `what` names the path in errors."""
    if not relative or "\0" in relative:
        raise RenderError(f"{what}: empty or invalid path")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or relative.startswith("~"):
        raise RenderError(f"{what}: absolute paths are not allowed ({relative!r})")
    if ".." in pure.parts:
        raise RenderError(f"{what}: '..' is not allowed ({relative!r})")
    base = root.resolve()
    target = (base / pure).resolve()
    if not target.is_relative_to(base):
        raise RenderError(f"{what}: {relative!r} resolves outside the application directory")
    return target


def display(root: Path, path: Path) -> str:
    """A path as errors show it: relative to the app directory."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return path.name
