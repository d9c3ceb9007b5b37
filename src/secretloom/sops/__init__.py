"""SOPS decryption, natively: the file format of getsops/sops, no `sops` process.

Why native (see docs/render.md): a render decrypts many files, and spawning
`sops -d` per file costs a process start, a Go runtime and a key lookup each
time; decrypting in-process costs one AES-GCM call per value. Native code also
lets us verify the MAC *before* anything is returned, so a tampered file yields
an error and never a partial document. The real `sops` binary is the oracle in
the tests: every corpus file must decrypt to exactly what `sops -d` prints.

Layout: `tree` (the document model), `goyaml`/`stores` (file formats with
go-yaml's scalar rules), `metadata`, `cipher` (one value), `walk` (the tree
walk, encryption rules and MAC), `keys` (age via pyrage, PGP via gpg),
`shamir` (key groups), `emit` (plaintext output like `sops -d`), `limits`
(size, nesting and alias bounds of every parse of untrusted input).

Decrypted values live only in memory; errors name files, paths and keys,
never values.
"""

from __future__ import annotations

from secretloom.sops.api import (
    Decrypted,
    decrypt,
    decrypt_file,
    is_encrypted,
    mentions_metadata,
)
from secretloom.sops.cipher import holds_encrypted_values
from secretloom.sops.errors import (
    DataKeyError,
    FormatError,
    IntegrityError,
    LimitError,
    NotEncrypted,
    SopsError,
)
from secretloom.sops.goyaml import compose as compose_yaml
from secretloom.sops.goyaml import load as load_yaml
from secretloom.sops.keys import KeySources
from secretloom.sops.limits import MAX_FILE_BYTES, loads_json, safe_load
from secretloom.sops.limits import read as read_bounded
from secretloom.sops.stores import Format, detect_format
from secretloom.sops.tree import to_plain

__all__ = [
    "MAX_FILE_BYTES",
    "DataKeyError",
    "Decrypted",
    "Format",
    "FormatError",
    "IntegrityError",
    "KeySources",
    "LimitError",
    "NotEncrypted",
    "SopsError",
    "compose_yaml",
    "decrypt",
    "decrypt_file",
    "detect_format",
    "holds_encrypted_values",
    "is_encrypted",
    "load_yaml",
    "loads_json",
    "mentions_metadata",
    "read_bounded",
    "safe_load",
    "to_plain",
]
