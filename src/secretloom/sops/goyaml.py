"""YAML into a sops tree, with go-yaml v3's scalar rules and sops's comments.

sops reads YAML with go-yaml v3, whose YAML 1.2-style resolver differs from
PyYAML's 1.1 one (`yes` is a string, `0777` is octal, `1_000` is an int,
timestamps are times). Plain scalars are therefore resolved here, from
PyYAML's composed node graph, with go-yaml's rules; quoted scalars stay
strings. The MAC hashes unencrypted values in their Go rendering, so the
types must match exactly.

Comments: PyYAML drops them, yet `encrypted_comment_regex` and
`unencrypted_comment_regex` depend on which comments precede a value. sops
writes every comment of an encrypted file on its own line, as a head comment
of the next key or sequence item at the same indentation (or as a foot
comment of a last item, which affects nothing). So a full-line comment is
attached to the next key or item in the text if that one is not indented
less than the comment; otherwise it is a foot comment and dropped. Line
comments after a value are not recognised (sops never writes them).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterator

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from secretloom.sops import gotext, limits
from secretloom.sops.errors import FormatError
from secretloom.sops.tree import Branch, Comment, Scalar, Timestamp, Value

_PLAIN = "!plain"  # marks an untagged plain scalar: resolved here, not by PyYAML

_CONSTANTS: dict[str, Scalar] = {
    **dict.fromkeys(("true", "True", "TRUE"), True),
    **dict.fromkeys(("false", "False", "FALSE"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_GO_INT = re.compile(r"[+-]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INT_RANGE = (-(2**63), 2**64 - 1)
# The longest literal in _INT_RANGE: "-0b" and 64 binary digits. Longer text is
# never an int, so int() never meets a 10,000-digit string (see `limits`).
_MAX_INT_TEXT = 67


class _Composer(limits.Loader):
    """Composes nodes only; untagged plain scalars keep a marker tag."""

    def resolve(self, kind: type[Node], value: str | None, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode and implicit[0]:
            return _PLAIN
        resolved: str = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        return resolved


def resolve_plain(text: str) -> Scalar:
    """go-yaml v3's `resolve("", text)` for an untagged plain scalar."""
    if text in _CONSTANTS:
        return _CONSTANTS[text]
    if text[0] == "." and _YAML_FLOAT.fullmatch(text):
        return _float_or_text(text, text)
    if text[0] not in "+-0123456789":
        return text
    parsed = gotext.parse_time(text)
    if parsed is not None:
        return Timestamp(gotext.format_rfc3339(*parsed))
    plain = text.replace("_", "")
    if len(plain) <= _MAX_INT_TEXT and _GO_INT.fullmatch(plain):
        number = int(plain, 0) if not re.fullmatch(r"[+-]?0[0-7]+", plain) else int(plain, 8)
        if _INT_RANGE[0] <= number <= _INT_RANGE[1]:
            return number
    if _YAML_FLOAT.fullmatch(plain):
        return _float_or_text(plain, text)
    return text


def _float_or_text(plain: str, text: str) -> Scalar:
    """strconv.ParseFloat fails on overflow (Python gives inf): go-yaml then keeps the text."""
    number = float(plain)
    return text if math.isinf(number) else number


def _scalar(node: ScalarNode) -> Scalar:
    tag = node.tag
    if tag == _PLAIN:
        return resolve_plain(node.value)
    if tag == "tag:yaml.org,2002:binary":
        try:
            decoded = base64.b64decode(node.value)
        except binascii.Error:
            line = node.start_mark.line + 1
            raise FormatError(f"line {line}: a !!binary value is not valid base64") from None
        return decoded.decode("utf-8", "surrogateescape")
    if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool"):
        resolved = resolve_plain(node.value)
        if tag.endswith("float") and isinstance(resolved, int) and not isinstance(resolved, bool):
            return float(resolved)
        return resolved
    if tag == "tag:yaml.org,2002:null":
        return None
    return str(node.value)


class _Comments:
    """Full-line comments, attached to the key or item that follows them."""

    def __init__(self, text: str, roots: list[Node]) -> None:
        inside: set[int] = set()
        for node in _walk_nodes(roots):
            if isinstance(node, ScalarNode) and node.end_mark.line > node.start_mark.line:
                inside.update(range(node.start_mark.line + 1, node.end_mark.line + 1))
        self._pending: list[tuple[int, int, str]] = []
        for number, line in enumerate(text.splitlines()):
            stripped = line.lstrip(" \t")
            if stripped.startswith("#") and number not in inside:
                self._pending.append((number, len(line) - len(stripped), stripped[1:]))
        self._pending.reverse()

    def before(self, line: int, column: int) -> list[Comment]:
        """Comments that are head comments of a slot starting at (line, column)."""
        found = []
        while self._pending and self._pending[-1][0] < line:
            _, comment_column, comment = self._pending.pop()
            if comment_column <= column:
                found.append(Comment(comment))
            else:
                found.clear()  # a foot comment of a deeper block, then a new head
        return found


def _walk_nodes(nodes: list[Node]) -> Iterator[Node]:
    stack = list(reversed(nodes))
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if isinstance(node, MappingNode):
            stack.extend(n for pair in reversed(node.value) for n in reversed(pair))
        elif isinstance(node, SequenceNode):
            stack.extend(reversed(node.value))


class _Builder:
    def __init__(self, comments: _Comments) -> None:
        self._comments = comments

    def value(self, node: Node) -> Value:
        if isinstance(node, MappingNode):
            return self.mapping(node)
        if isinstance(node, SequenceNode):
            return self.sequence(node)
        assert isinstance(node, ScalarNode)
        return _scalar(node)

    def mapping(self, node: MappingNode) -> Branch:
        branch = Branch()
        for key_node, value_node in node.value:
            start = key_node.start_mark
            branch.extend((c, None) for c in self._comments.before(start.line, start.column))
            key = self.value(key_node)
            if not isinstance(key, str):
                raise FormatError(f"line {start.line + 1}: only string keys are supported")
            branch.append((key, self.value(value_node)))
        return branch

    def sequence(self, node: SequenceNode) -> list[Value | Comment]:
        items: list[Value | Comment] = []
        for item in node.value:
            items.extend(self._comments.before(item.start_mark.line, node.start_mark.column))
            items.append(self.value(item))
        return items


def load(text: str) -> list[Branch]:
    """Every document of a YAML stream as a branch (an empty document is empty)."""
    with limits.guarded():  # a last resort: the limits below keep recursion and size bounded
        roots = compose(text)
        builder = _Builder(_Comments(text, roots))
        branches = []
        for root in roots:
            if isinstance(root, ScalarNode) and _scalar(root) is None:
                branches.append(Branch())
            elif isinstance(root, MappingNode):
                branches.append(builder.mapping(root))
            else:
                raise FormatError("YAML documents that are sequences or values are not supported")
    return branches


def compose(text: str) -> list[Node]:
    """The node graph of every non-empty document, within `limits` (aliases not expanded)."""
    loader = _Composer(text)
    try:
        roots: list[Node] = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                roots.append(node)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise FormatError(f"invalid YAML{where}") from None
    finally:
        loader.dispose()
    if loader.aliases:
        limits.check_graph(roots)  # before anything expands an alias
    return roots
