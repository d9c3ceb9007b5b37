"""Plaintext output in each format, as `sops -d` prints it.

JSON, dotenv and binary output are byte-for-byte what `sops -d` writes (Go's
encoding/json layout with tab indentation; `KEY=value` lines with `\\n`
escapes; the raw bytes). YAML is emitted by PyYAML with sops's four-space
indentation: the same data and types, without comments, and not
byte-identical to go-yaml's emitter (tests compare parsed data).
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from secretloom.sops import gotext
from secretloom.sops.errors import FormatError, shown
from secretloom.sops.stores import Format
from secretloom.sops.tree import Branch, Comment, Timestamp, Value, to_plain


def emit(branches: list[Branch], fmt: Format) -> bytes:
    if fmt is Format.BINARY:
        data = dict(branches[0]).get("data", "")
        if not isinstance(data, str | bytes):
            raise FormatError("binary data is not a string")
        return data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape")
    if fmt is Format.DOTENV:
        return _dotenv(branches[0]).encode("utf-8", "surrogateescape")
    if fmt is Format.JSON:
        return (_json(branches[0], "") + "\n").encode("utf-8", "surrogateescape")
    return _yaml(branches).encode("utf-8", "surrogateescape")


def _dotenv(branch: Branch) -> str:
    lines = []
    for key, value in branch:
        if isinstance(key, Comment):
            lines.append(f"#{key.text}\n")
        elif isinstance(value, Branch | list):
            raise FormatError(f"cannot use a complex value in a dotenv file: {shown(key)}")
        else:
            lines.append(f"{key}={_go_string(value)}".replace("\n", "\\n") + "\n")
    return "".join(lines)


def _go_string(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return gotext.format_float_f(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, Timestamp):
        return value.text
    return "" if value is None else str(value)


def _json(value: Value | Comment, indent: str) -> str:
    inner = indent + "\t"
    if isinstance(value, Branch):
        items = [(k, v) for k, v in value if isinstance(k, str)]
        if not items:
            return "{}"
        body = ",\n".join(f"{inner}{gotext.json_string(k)}: {_json(v, inner)}" for k, v in items)
        return "{\n" + body + "\n" + indent + "}"
    if isinstance(value, list):
        elements = [v for v in value if not isinstance(v, Comment)]
        if not elements:
            return "[]"
        return "[\n" + ",\n".join(inner + _json(v, inner) for v in elements) + "\n" + indent + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise FormatError("JSON cannot hold NaN or infinity")
        return gotext.json_float(value)
    if isinstance(value, int):
        return str(value)
    return gotext.json_string(_go_string(value))  # type: ignore[arg-type]


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # sequences indented under their key, like sops


def _yaml(branches: list[Branch]) -> str:
    documents: list[Any] = [to_plain(b) for b in branches]
    text = yaml.dump_all(
        documents,
        Dumper=_Dumper,
        indent=4,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        explicit_start=len(documents) > 1,
        width=1 << 16,
    )
    return str(text)
