"""Decrypt a whole SOPS file: parse, recover the data key, walk, verify.

The one entry point the rest of secretloom uses. Nothing is returned until
the MAC has verified, and the result holds the plaintext only in memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secretloom.sops import cipher, emit, limits, metadata, stores, walk
from secretloom.sops.errors import DataKeyError, FormatError, NotEncrypted, shown
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
    """Parse (within `limits`), recover the data key, decrypt and verify; or a one-line error."""
    source = shown(source)
    with _parsing(source, data):
        limits.check_size(data)
        loaded = stores.load(data, fmt)
        meta = metadata.parse(loaded.metadata)
    data_key = keys.data_key(meta, where=source)
    if len(data_key) not in cipher.DATA_KEY_SIZES:
        raise DataKeyError(f"{source}: the data key has an invalid length")
    with limits.guarded(source):  # the walk's own errors name the source already
        return Decrypted(fmt, walk.decrypt_branches(loaded.branches, meta, data_key, source=source))


@contextlib.contextmanager
def _parsing(source: str, data: bytes) -> Iterator[None]:
    """Parse errors do not know the file's name: add it, and say why metadata is missing."""
    try:
        with limits.guarded():
            yield
    except NotEncrypted:
        if cipher.holds_encrypted_values(data):  # fail closed, and say why
            raise NotEncrypted(
                f"{source}: encrypted values (ENC[...]) but no sops metadata: "
                "was the sops section removed or renamed?"
            ) from None
        raise NotEncrypted(f"{source}: sops metadata not found") from None
    except FormatError as err:
        raise type(err)(f"{source}: {err}") from None


def decrypt_file(
    path: Path, keys: KeySources, *, fmt: Format | None = None, name: str | None = None
) -> Decrypted:
    """Decrypt a file of at most `limits.MAX_FILE_BYTES`; `name` is how errors refer to it."""
    source = name or str(path)
    return decrypt(
        limits.read(path, name=source), fmt or stores.detect_format(path), keys, source=source
    )


def is_encrypted(data: bytes, fmt: Format, *, source: str = "<input>") -> bool:
    """Whether `data` is a SOPS document (parses, has metadata); it is not decrypted."""
    with _parsing(shown(source), data):
        return stores.has_metadata(data, fmt)


def mentions_metadata(data: bytes, fmt: Format) -> bool:
    """Whether `data` may be a SOPS document, by a scan without a parse (see `stores`)."""
    return stores.mentions_metadata(data, fmt)
