"""Bounded parsing of untrusted YAML and JSON: every limit in one place.

`secretloom render` parses what an application repository holds (SOPS files,
`secrets://` values files, `ref+file://` targets, plain manifests), and a
repository is not trusted (docs/security.md). Unbounded, one file of a few
hundred bytes took a render past 60 s and 1.3 GiB (a billion-laughs alias
bomb, the Kubernetes CVE-2019-11253 class), and deep nesting or a
10,000-digit integer ended in a 2,978-line traceback. So every parser of
untrusted input goes through this module:

* `MAX_FILE_BYTES` (16 MiB): a file is read with a cap, never whole first. A
  Secret holds at most 1 MiB and etcd takes requests up to 1.5 MiB, so no
  real values file, SOPS file or manifest comes near it, and `Loader`
  parses 16 MiB in seconds (PyYAML's pure-Python parser took minutes).
* `MAX_DEPTH` (100 nodes on any path): Kubernetes objects nest about 15
  deep. 100 keeps every recursive walk (PyYAML's composer and representer
  use three or four frames a level, our builders and emitters one or two)
  inside Python's 1,000-frame recursion limit with room for the caller.
* `MAX_ALIAS_NODES` (100,000): the real `sops` expands aliases, like
  go-yaml (checked with sops 3.11: an encrypted file with anchors decrypts,
  and a billion laughs runs `sops -d` out of memory). We expand them too, so
  legitimate anchors keep working byte for byte, but the expansion is
  computed on the composed graph first (linear, without expanding) and a
  document whose aliases would add more than 100,000 nodes, or that refers
  to itself, is refused. go-yaml's decoder has the same defence as a ratio.
* Integers: go-yaml's ints are 64-bit, so a longer literal is never parsed
  as one (`goyaml`, `cipher`); JSON integers past `MAX_INT_DIGITS` are
  refused by name rather than by Python's 4,300-digit int-string limit
  (CVE-2020-10735), whose ValueError used to escape as a traceback.

`guarded` is the last resort around a whole parse: RecursionError,
MemoryError and ValueError become one `LimitError` line naming the input,
never the exception's text (which may quote the input).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from yaml._yaml import CParser
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode
from yaml.resolver import Resolver

from secretloom.sops.errors import FormatError, LimitError
from secretloom.sops.tree import Branch

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 100
MAX_ALIAS_NODES = 100_000
MAX_INT_DIGITS = 4_300  # Python's own default (sys.get_int_max_str_digits), said clearly


def read(path: Path, *, name: str) -> bytes:
    """The file's bytes, refusing one larger than MAX_FILE_BYTES without reading it all.

    `name` is how errors refer to the file; OSError is the caller's to report.
    """
    with path.open("rb") as file:
        data = file.read(MAX_FILE_BYTES + 1)
    try:
        check_size(data)
    except LimitError as err:
        raise LimitError(f"{name}: {err}") from None
    return data


def check_size(data: bytes) -> None:
    if len(data) > MAX_FILE_BYTES:
        raise LimitError(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")


@contextlib.contextmanager
def guarded(source: str | None = None) -> Iterator[None]:
    """Map what a parser may raise beyond its own errors to one line (about `source`, if given)."""
    prefix = f"{source}: " if source else ""
    try:
        yield
    except (RecursionError, MemoryError):
        raise LimitError(f"{prefix}too deeply nested or too large to parse") from None
    except ValueError:
        raise FormatError(f"{prefix}malformed input that cannot be parsed") from None


class Loader(Composer, CParser, SafeConstructor, Resolver):
    """A safe loader: libyaml's parser, PyYAML's composer at most MAX_DEPTH nodes deep.

    libyaml (C) scans and parses in linear time without recursion; PyYAML's
    pure-Python scanner took about 10 s a MiB here, and seconds for one line
    of `[[[[…` (it looks up to 1,024 characters ahead at every flow level).
    The composer stays Python's, so it can count depth (it recurses) and keep
    sops's comment rules; it composes libyaml's events as fast as libyaml's own.
    """

    _depth = 0
    aliases = 0  # seen so far: without any, the graph is a tree and `check_graph` can be skipped

    def __init__(self, stream: str | bytes) -> None:
        CParser.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self._depth += 1
        if self.check_event(AliasEvent):
            self.aliases += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = getattr(self.peek_event(), "start_mark", None)
                line = f"line {mark.line + 1}: " if mark is not None else ""
                raise LimitError(f"{line}nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def safe_load(text: str) -> Any:
    """`yaml.safe_load` within these limits (aliases are shared objects, never copies)."""
    loader = Loader(text)
    try:
        with guarded():
            return loader.get_single_data()
    finally:
        loader.dispose()


def check_graph(roots: list[Node]) -> None:
    """Refuse composed YAML whose aliases would expand too far, too deep, or forever.

    Sizes and depths are computed once per distinct node (aliases share
    nodes), iteratively, so the check costs what composing did.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_nodes: set[int] = set()  # pre-visited, not yet post-visited: the current path
    for root in roots:
        stack: list[tuple[Node, bool]] = [(root, False)]
        while stack:
            node, children_done = stack.pop()
            key = id(node)
            if children_done:
                children = _children(node)
                size[key] = 1 + sum(size[id(c)] for c in children)
                depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
                open_nodes.discard(key)
            elif key in open_nodes:
                raise LimitError("a YAML alias refers to a node that contains it")
            elif key not in size:
                open_nodes.add(key)
                stack.append((node, True))
                stack.extend((c, False) for c in _children(node))
    if sum(size[id(r)] for r in roots) - len(size) > MAX_ALIAS_NODES:
        raise LimitError(f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} nodes")
    if max((depth[id(r)] for r in roots), default=0) > MAX_DEPTH:
        raise LimitError(f"YAML aliases nest deeper than {MAX_DEPTH} levels")


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def loads_json(text: str, **hooks: Any) -> Any:
    """`json.loads` with `hooks`, refusing deep nesting; errors name a line, never a value."""
    hooks.setdefault("parse_int", _bounded_int)
    with guarded():
        try:
            value = json.loads(text, **hooks)
        except json.JSONDecodeError as err:  # a ValueError: named before `guarded` sees it
            raise FormatError(f"invalid JSON at line {err.lineno}") from None
    check_depth(value)
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise LimitError(f"a number has more than {MAX_INT_DIGITS:,} digits")
    return int(text)


def check_depth(value: Any) -> None:
    """Refuse parsed data (dicts, lists, sops branches) more than MAX_DEPTH nodes deep."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > MAX_DEPTH:
            raise LimitError(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, Branch):
            stack.extend((v, level + 1) for _, v in item)
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
