"""File formats: bytes of an encrypted file into (tree, raw metadata).

Each loader mirrors a sops store: YAML (every document a branch, `sops` key
removed from each), JSON (one object, every number a float64 as Go's
encoding/json decodes it), dotenv (one `KEY=value` per line, `\\n` escapes,
`#` comments, metadata flattened into `sops_*` keys) and binary (a JSON
document whose `data` value is the whole file). The format is chosen by file
extension, as `sops` does, unless given.
"""

from __future__ import annotations

import enum
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from secretloom.sops import goyaml
from secretloom.sops.errors import FormatError, NotEncrypted
from secretloom.sops.tree import Branch, Comment, Value, to_plain


class Format(enum.StrEnum):
    YAML = "yaml"
    JSON = "json"
    DOTENV = "dotenv"
    BINARY = "binary"


_EXTENSIONS = {
    ".yaml": Format.YAML,
    ".yml": Format.YAML,
    ".json": Format.JSON,
    ".env": Format.DOTENV,
}
METADATA_KEY = "sops"


def detect_format(path: PurePath | str) -> Format:
    return _EXTENSIONS.get(PurePath(path).suffix.lower(), Format.BINARY)


@dataclass(frozen=True, slots=True)
class Loaded:
    branches: list[Branch]
    metadata: dict[str, Any]


def load(data: bytes, fmt: Format) -> Loaded:
    """Parse an encrypted file; raises NotEncrypted when it has no metadata."""
    text = _text(data)
    if fmt is Format.YAML:
        return _split_metadata(goyaml.load(text))
    if fmt is Format.DOTENV:
        return _load_dotenv(text)
    loaded = _split_metadata([_load_json(text)])
    if fmt is Format.BINARY and [k for k, _ in loaded.branches[0]] != ["data"]:
        raise FormatError("a binary SOPS file must hold exactly one `data` value")
    return loaded


def has_metadata(data: bytes, fmt: Format) -> bool:
    """Whether the file parses and carries a `sops` section (cheap pre-commit check)."""
    try:
        load(data, fmt)
    except NotEncrypted:
        return False
    return True


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("the file is not UTF-8 text, so not a SOPS document") from None


def _split_metadata(branches: list[Branch]) -> Loaded:
    metadata: dict[str, Any] | None = None
    stripped = []
    for branch in branches:
        kept = Branch()
        for key, value in branch:
            if key == METADATA_KEY:
                if metadata is None:
                    metadata = _as_plain_metadata(value)
            else:
                kept.append((key, value))
        stripped.append(kept)
    if metadata is None:
        raise NotEncrypted("sops metadata not found")
    return Loaded(stripped, metadata)


def _as_plain_metadata(value: Value) -> dict[str, Any]:
    plain = to_plain(value)
    if not isinstance(plain, dict):
        raise FormatError("the `sops` metadata is not a mapping")
    return plain


def _load_json(text: str) -> Branch:
    def reject_constant(name: str) -> float:
        raise FormatError(f"invalid JSON constant {name}")

    try:
        value = json.loads(
            text,
            object_pairs_hook=Branch,
            parse_int=float,
            parse_constant=reject_constant,
        )
    except json.JSONDecodeError as err:
        raise FormatError(f"invalid JSON at line {err.lineno}") from None
    if not isinstance(value, Branch):
        raise FormatError("a JSON SOPS document must be an object")
    return value


_DOTENV_PREFIX = METADATA_KEY + "_"
_FLAT_TOKEN = re.compile(r"__(map|list)_")


def _load_dotenv(text: str) -> Loaded:
    branch = Branch()
    flat: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        if line.startswith("#"):
            branch.append((Comment(line[1:]), None))
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise FormatError(f"invalid dotenv line {number}: no `=`")
        value = value.replace("\\n", "\n")
        if key.startswith(_DOTENV_PREFIX):
            flat[key[len(_DOTENV_PREFIX) :]] = value
        else:
            branch.append((key, value))
    if not flat:
        raise NotEncrypted("sops metadata not found")
    return Loaded([branch], _unflatten(flat))


def _unflatten(flat: dict[str, str]) -> dict[str, Any]:
    """Inverse of sops's stores.Flatten (`age__list_0__map_enc` and so on)."""
    root: dict[str, Any] = {}
    for path, value in flat.items():
        parts = _FLAT_TOKEN.split(path)
        tokens: list[str | int] = [parts[0]]
        for kind, name in zip(parts[1::2], parts[2::2], strict=True):
            tokens.append(int(name) if kind == "list" else name)
        node: Any = root
        for token, following in itertools.pairwise(tokens):
            node = _child(node, token, [] if isinstance(following, int) else {})
        _assign(node, tokens[-1], value)
    return root


def _child(node: Any, token: str | int, empty: Any) -> Any:
    if isinstance(token, int):
        _assign(
            node, token, node[token] if token < len(node) and node[token] is not None else empty
        )
        return node[token]
    return node.setdefault(token, empty)


def _assign(node: Any, token: str | int, value: Any) -> None:
    if isinstance(token, int):
        node.extend([None] * (token + 1 - len(node)))
    node[token] = value
