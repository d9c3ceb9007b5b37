"""The document model, mirroring sops.TreeBranch so the walk order is sops's.

A mapping is a `Branch` (an ordered list of (key, value) items, where a key
may be a `Comment`); a sequence is a plain list whose items may be
`Comment`s. Comments matter only to `encrypted_comment_regex` and
`unencrypted_comment_regex`; they never enter the MAC.

`Timestamp` keeps a YAML timestamp as the text Go's RFC 3339 formatting gives,
which is what sops both hashes and prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias


@dataclass(frozen=True, slots=True)
class Comment:
    text: str


@dataclass(frozen=True, slots=True)
class Timestamp:
    text: str


Scalar: TypeAlias = str | int | float | bool | bytes | Timestamp | None
Value: TypeAlias = "Scalar | Branch | list[Value | Comment]"
Key: TypeAlias = str | Comment


class Branch:
    """An ordered mapping whose keys may repeat or be comments (not a dict, on purpose)."""

    __slots__ = ("items",)

    def __init__(self, items: Iterable[tuple[Key, Value]] = ()) -> None:
        self.items: list[tuple[Key, Value]] = list(items)

    def __iter__(self) -> Iterator[tuple[Key, Value]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def append(self, item: tuple[Key, Value]) -> None:
        self.items.append(item)

    def extend(self, items: Iterable[tuple[Key, Value]]) -> None:
        self.items.extend(items)


def to_plain(value: Value) -> Any:
    """Plain Python data (dict/list/scalars) with comments dropped."""
    if isinstance(value, Branch):
        return {k: to_plain(v) for k, v in value if isinstance(k, str)}
    if isinstance(value, list):
        return [to_plain(v) for v in value if not isinstance(v, Comment)]
    if isinstance(value, Timestamp):
        return value.text
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value
