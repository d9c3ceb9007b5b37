"""File formats: bytes of an encrypted file into (tree, raw metadata).

Each loader mirrors a sops store: YAML (every document a branch, `sops` key
removed from each), JSON (one object, every number a float64 as Go's
encoding/json decodes it), dotenv (one `KEY=value` per line, `\\n` escapes,
`#` comments, metadata flattened into `sops_*` keys) and binary (a JSON
document whose `data` value is the whole file). The format is chosen by file
extension, as `sops` does, unless given.

Every parse is bounded (`limits`). `mentions_metadata` is the cheap test a
render makes of every manifest: a regular-expression scan for the top-level
`sops` key of each format, so a file that merely contains the word costs no
parse; only a file it flags is parsed in full.
"""

from __future__ import annotations

import enum
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from secretloom.sops import goyaml, limits
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
    """Whether the file parses and carries a `sops` section (the pre-commit check)."""
    try:
        load(data, fmt)
    except NotEncrypted:
        return False
    return True


# The top-level metadata key as sops writes it: a block key at column 0 in YAML,
# `"sops":` in JSON (whose nesting a scan cannot see: a nested one costs a parse),
# `sops_…` lines in dotenv.
_METADATA_SCANS = {
    Format.YAML: re.compile(rb"""^(?:sops|"sops"|'sops')[ \t]*:""", re.MULTILINE),
    Format.JSON: re.compile(rb'"sops"\s*:'),
    Format.BINARY: re.compile(rb'"sops"\s*:'),
    Format.DOTENV: re.compile(rb"^sops_", re.MULTILINE),
}


def mentions_metadata(data: bytes, fmt: Format) -> bool:
    """Whether `data` may be a SOPS document: a scan, no parse (false positives possible)."""
    return _METADATA_SCANS[fmt].search(data) is not None


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

    value = limits.loads_json(
        text,
        object_pairs_hook=Branch,
        parse_int=_go_float,
        parse_float=_go_float,
        parse_constant=reject_constant,
    )
    if not isinstance(value, Branch):
        raise NotEncrypted("a JSON document that is not an object has no sops metadata")
    return value


def _go_float(text: str) -> float:
    """encoding/json decodes every number as a float64 and refuses one out of its range."""
    number = float(text)
    if math.isinf(number):
        raise FormatError("a JSON number is out of the float64 range")
    return number


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


# Metadata lists (key groups, master keys) hold a handful of entries; an index
# is read as at most 4 ASCII digits so `sops_age__list_99999999999_…` cannot
# allocate a huge list.
_LIST_INDEX = re.compile(r"[0-9]{1,4}")


def _unflatten(flat: dict[str, str]) -> dict[str, Any]:
    """Inverse of sops's stores.Flatten (`age__list_0__map_enc` and so on)."""
    root: dict[str, Any] = {}
    for path, value in flat.items():
        tokens = _tokens(path)
        node: Any = root
        for token, following in itertools.pairwise(tokens):
            node = _child(node, token, [] if isinstance(following, int) else {}, path)
        _check_container(node, tokens[-1], path)
        _assign(node, tokens[-1], value)
    return root


def _tokens(path: str) -> list[str | int]:
    parts = _FLAT_TOKEN.split(path)
    tokens: list[str | int] = [parts[0]]
    for kind, name in zip(parts[1::2], parts[2::2], strict=True):
        if kind == "list" and not _LIST_INDEX.fullmatch(name):
            raise FormatError(f"dotenv metadata key {_shown(path)}: malformed list index")
        tokens.append(int(name) if kind == "list" else name)
    return tokens


def _child(node: Any, token: str | int, empty: Any, path: str) -> Any:
    _check_container(node, token, path)
    if isinstance(token, int):
        current = node[token] if token < len(node) else None
        _assign(node, token, empty if current is None else current)
        return node[token]
    return node.setdefault(token, empty)


def _check_container(node: Any, token: str | int, path: str) -> None:
    """Keys that make one node both a list and a mapping (or a value) are refused."""
    if not isinstance(node, list if isinstance(token, int) else dict):
        raise FormatError(f"dotenv metadata key {_shown(path)} conflicts with another key")


def _assign(node: Any, token: str | int, value: Any) -> None:
    if isinstance(token, int):
        node.extend([None] * (token + 1 - len(node)))
    node[token] = value


def _shown(key: str) -> str:
    """A metadata key (cleartext, never a value) cut to stay one short line."""
    return repr(key if len(key) <= 60 else key[:60] + "...")
