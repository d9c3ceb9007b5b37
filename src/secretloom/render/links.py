"""No symlink of the application leads out of it, checked before anything reads it.

Issue 9 (security review): `paths.confine` guards the files secretloom opens
itself, but helm and kustomize follow links on their own. A chart holding
`files/k -> <the sidecar's age key>` and `{{ .Files.Get "files/k" }}` printed
the private key into the rendered manifests with exit 0, and a symlinked
`templates/x.yaml` rendered a file from outside the app (Argo CD
CVE-2022-24348 class). So `check` runs first, for every kind of app, and walks
the tree *without following links*: hidden files, nested directories and
chart dependencies under `charts/` alike. Any link that resolves outside the
allowed root, dangles or loops fails the render with one line naming the link
as reached from the app; its target is never printed (it would reveal the
sidecar's layout).

The allowed root is Argo CD's own rule (`CheckOutOfBoundsSymlinks` in
util/app/path): links may point anywhere inside the repository checkout, so a
chart linking a file shared by several apps keeps working. The checkout is
derived from `ARGOCD_APP_SOURCE_PATH` (the app's path inside the repository,
set by Argo CD) only when it is a clean relative path whose components are
exactly the tail of the resolved app directory and that leaves a directory
below `/`; otherwise, or when it is unset (a local run), the root is the app
directory itself. Files secretloom opens itself stay confined to the app.

Trade-offs:
- A link to a directory is followed by the tools, so the walk enters its
  target too (each real directory once), checking links in shared directories
  outside the app. A directory link back into its own path (`up -> ..`, or two
  directories linking to each other) is refused as a loop: helm and kustomize
  would descend forever.
- Dangling links are refused although Argo CD allows them: a link that leads
  nowhere in the checkout is a mistake or a probe for the sidecar's files.
- The walk is bounded (`MAX_ENTRIES` directory entries, counted while
  listing), so a directory with 100,000 entries fails fast with a clear error
  instead of stalling the plugin. It is iterative: deep nesting cannot
  exhaust Python's recursion limit.
- Check, then run: sound because the checkout does not change during a render
  (Argo CD extracts it per request, and nothing in it runs before the tools).
- kustomize's default load restrictor already refuses a file linked out of
  its kustomization root (quoting absolute paths), but not a linked directory
  holding a kustomization; the walk refuses both. A base reached by a plain
  relative path (`resources: [../base]`) is no link and is not walked: that
  is kustomize's own base mechanism.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from secretloom.render.errors import RenderError

SOURCE_PATH_VARIABLE = "ARGOCD_APP_SOURCE_PATH"
MAX_ENTRIES = 20_000
_CVE = "CVE-2022-24348 class"


def check(app_dir: Path, *, source_path: str | None) -> None:
    """Refuse the app if a link in it (or in a directory it links to) escapes, dangles or loops."""
    app = app_dir.resolve()
    root = _allowed_root(app, source_path=source_path)
    where = "the application directory" if root == app else "the repository"
    _Walk(root=root, where=where).run(app)


def _allowed_root(app: Path, *, source_path: str | None) -> Path:
    """The repository checkout when `source_path` names exactly `app`'s tail, else `app`."""
    if not source_path:
        return app
    parts = PurePosixPath(source_path).parts  # drops "." and empty components
    if not parts or parts[0] == "/" or ".." in parts or app.parts[-len(parts) :] != parts:
        return app
    root = app.parents[len(parts) - 1]
    return app if root.parent == root else root


@dataclass(frozen=True, slots=True)
class _Directory:
    real: Path  # resolved
    shown: PurePosixPath  # as the tools reach it from the app directory
    entries: Iterator[os.DirEntry[str]]


class _Walk:
    def __init__(self, *, root: Path, where: str) -> None:
        self._root = root
        self._where = where
        self._count = 0

    def run(self, app: Path) -> None:
        """Depth-first; a directory is on `stack` while its subtree is walked (the loop test)."""
        walked: set[Path] = set()
        stack = [self._open(app, PurePosixPath())]
        while stack:
            entry = next(stack[-1].entries, None)
            if entry is None:
                walked.add(stack.pop().real)
                continue
            shown = stack[-1].shown / entry.name
            if entry.is_symlink():
                target = self._resolve(entry.path, shown)
                if not target.is_dir():
                    continue
                if any(d.real.is_relative_to(target) for d in stack):
                    raise self._refuse(shown, "it loops")
                # A target inside the app not yet walked is walked here, once, as the tools see it.
                if target not in walked:
                    stack.append(self._open(target, shown))
            elif entry.is_dir(follow_symlinks=False) and Path(entry.path) not in walked:
                stack.append(self._open(Path(entry.path), shown))

    def _open(self, real: Path, shown: PurePosixPath) -> _Directory:
        entries = []
        try:
            with os.scandir(real) as listing:
                for entry in listing:
                    self._count += 1
                    if self._count > MAX_ENTRIES:
                        raise RenderError(
                            f"more than {MAX_ENTRIES:,} files and directories to check "
                            "for symlinks; refusing to render"
                        )
                    entries.append(entry)
        except OSError as err:
            raise RenderError(f"{shown}: cannot be read ({err.strerror})") from None
        return _Directory(real, shown, iter(sorted(entries, key=lambda e: e.name)))

    def _resolve(self, link: str, shown: PurePosixPath) -> Path:
        # Containment first, without requiring existence: a link out is reported as one
        # even when its target is missing or unreadable from the sidecar.
        if not Path(os.path.realpath(link)).is_relative_to(self._root):
            raise self._refuse(shown, f"it resolves outside {self._where} ({_CVE})")
        try:
            return Path(os.path.realpath(link, strict=True))
        except OSError as err:  # its text quotes the target: not shown
            why = "it loops" if err.errno == errno.ELOOP else "its target does not exist"
            raise self._refuse(shown, why) from None

    @staticmethod
    def _refuse(shown: PurePosixPath, why: str) -> RenderError:
        return RenderError(f"refusing symlink {shown}: {why}")
