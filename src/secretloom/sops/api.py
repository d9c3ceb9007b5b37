"""Decrypt a whole SOPS file: parse, recover the data key, walk, verify.

The one entry point the rest of secretloom uses. Nothing is returned until
the MAC has verified, and the result holds the plaintext only in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secretloom.sops import emit, metadata, stores, walk
from secretloom.sops.errors import FormatError
from secretloom.sops.keys import KeySources
from secretloom.sops.stores import Format
from secretloom.sops.tree import Branch, to_plain


@dataclass(frozen=True)
class Decrypted:
    """A verified plaintext document. Its repr never shows values."""

    fmt: Format
    branches: list[Branch] = field(repr=False)

    def data(self) -> Any:
        """The first document as plain Python data (the whole file for binary)."""
        if self.fmt is Format.BINARY:
            return emit.emit(self.branches, self.fmt)
        return to_plain(self.branches[0]) if self.branches else {}

    def documents(self) -> list[Any]:
        return [to_plain(b) for b in self.branches]

    def emit(self) -> bytes:
        """The plaintext file, as `sops -d` prints it (see `emit` for YAML)."""
        return emit.emit(self.branches, self.fmt)


def decrypt(data: bytes, fmt: Format, keys: KeySources, *, source: str = "<input>") -> Decrypted:
    try:
        loaded = stores.load(data, fmt)
        meta = metadata.parse(loaded.metadata)
    except FormatError as err:  # parse errors do not know the file's name
        raise type(err)(f"{source}: {err}") from None
    data_key = keys.data_key(meta, where=source)
    return Decrypted(fmt, walk.decrypt_branches(loaded.branches, meta, data_key, source=source))


def decrypt_file(
    path: Path, keys: KeySources, *, fmt: Format | None = None, name: str | None = None
) -> Decrypted:
    """Decrypt a file; `name` is how errors refer to it (default: the path)."""
    return decrypt(
        path.read_bytes(), fmt or stores.detect_format(path), keys, source=name or str(path)
    )


def is_encrypted(data: bytes, fmt: Format) -> bool:
    """Whether `data` is a SOPS document (has metadata); it is not decrypted."""
    return stores.has_metadata(data, fmt)
