"""A private temp dir for decrypted values files, removed on every exit.

helm reads values from files, so decrypted values must touch disk once: in a
directory created with mode 0700 (files 0600) and removed in a `finally`,
whatever happens (errors, KeyboardInterrupt). Argo CD's sidecar gives /tmp as
an emptyDir, so nothing survives the pod either.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class PrivateDir:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._count = 0

    def write(self, stem: str, data: bytes) -> Path:
        """A new 0600 file (never overwriting) holding `data`."""
        self._count += 1
        path = self.path / f"{self._count:03d}-{stem}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        return path


@contextmanager
def private_dir() -> Iterator[PrivateDir]:
    path = Path(tempfile.mkdtemp(prefix="secretloom-render-"))  # mode 0700
    try:
        yield PrivateDir(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)
