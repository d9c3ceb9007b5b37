"""References replaced in place in YAML text, and in parsed data.

Manifests and values files are edited in place rather than parsed and
re-emitted: only scalars that hold a reference change (each becomes a JSON
double-quoted string, valid YAML), every other byte stays as written. A
re-emit would pass each value through a YAML library's type rules, and
PyYAML's (1.1) and Kubernetes' (go-yaml) disagree (`yes`, `0777`, `1_000`),
so an untouched `replicas: 010` could silently change meaning.

Like argocd-vault-plugin, a resolved value under `data:` of a `kind: Secret`
is base64-encoded (`stringData` takes it as is).

Text passed on is checked first (fail closed): a SOPS-encrypted value
(`ENC[AES256_GCM,…]`) here means a SOPS file whose `sops` section was removed
or renamed, which `sops -d` refuses and which must not reach the cluster as
is. Text is parsed with `goyaml.compose`, within `limits`, when it holds a
reference or both an anchor and an alias: aliases are never expanded here,
but a document whose aliases would expand past the limit is refused rather
than handed on to the next YAML reader.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from secretloom.render import refs
from secretloom.render.errors import RenderError
from secretloom.sops import SopsError, compose_yaml, holds_encrypted_values

# `&name` and `*name` where YAML reads them as an anchor and an alias: a cheap
# scan, false positives only cost a parse.
_ANCHOR = re.compile(r"(?:^|[\s\[{,])&[^\s\[\]{},]")
_ALIAS = re.compile(r"(?:^|[\s\[{,])\*[^\s\[\]{},]")


@dataclass(frozen=True)
class _Site:
    node: ScalarNode
    occurrences: list[refs.Occurrence]
    base64: bool


class YamlText:
    """One YAML stream and the scalars in it that hold references."""

    def __init__(self, text: str, *, name: str) -> None:
        self.text = text.removeprefix("\ufeff")
        self._sites: list[_Site] = []
        if holds_encrypted_values(self.text):
            raise RenderError(
                f"{name}: SOPS-encrypted values (ENC[...]) without valid sops metadata: "
                "refusing to pass them on (was the sops section removed or renamed?)"
            )
        aliased = _ANCHOR.search(self.text) and _ALIAS.search(self.text)
        if not (refs.might_contain(self.text) or aliased):
            return
        try:
            for document in compose_yaml(self.text):
                self._collect(document, secret_values=_secret_values(document), seen=set())
        except (SopsError, RenderError) as err:
            raise RenderError(f"{name}: {err}") from None

    def references(self) -> list[refs.Ref]:
        return [o.ref for site in self._sites for o in site.occurrences]

    def render(self, values: Mapping[refs.Ref, Any]) -> str:
        out, last = [], 0
        for site in sorted(self._sites, key=lambda s: s.node.start_mark.index):
            start, end = site.node.start_mark.index, site.node.end_mark.index
            original = self.text[start:end]
            value = refs.substitute(site.node.value, values)
            if site.base64:
                value = base64.b64encode(refs.scalar_text(value).encode()).decode()
            trailing = original[len(original.rstrip()) :]  # block scalars end with their newline
            out += [self.text[last:start], yaml_quoted(value), trailing]
            last = end
        return "".join([*out, self.text[last:]])

    def _collect(self, node: Node, *, secret_values: set[int], seen: set[int]) -> None:
        if id(node) in seen:  # an alias: its anchor is substituted once
            return
        seen.add(id(node))
        if isinstance(node, ScalarNode):
            found = refs.find(node.value)
            if found:
                self._sites.append(_Site(node, found, id(node) in secret_values))
        elif isinstance(node, MappingNode):
            for _, value in node.value:  # keys are never substituted
                self._collect(value, secret_values=secret_values, seen=seen)
        elif isinstance(node, SequenceNode):
            for item in node.value:
                self._collect(item, secret_values=secret_values, seen=seen)


def _secret_values(document: Node) -> set[int]:
    """The nodes under `data` of a `kind: Secret` document (by id: nodes compare by identity)."""
    if not isinstance(document, MappingNode):
        return set()
    fields = {k.value: v for k, v in document.value if isinstance(k, ScalarNode)}
    kind, data = fields.get("kind"), fields.get("data")
    if isinstance(kind, ScalarNode) and kind.value == "Secret" and isinstance(data, MappingNode):
        return {id(v) for _, v in data.value}
    return set()


def collect_data(value: Any) -> list[refs.Ref]:
    """References in every string of parsed data (values are never keys)."""
    if isinstance(value, dict):
        return [r for v in value.values() for r in collect_data(v)]
    if isinstance(value, list):
        return [r for v in value for r in collect_data(v)]
    if isinstance(value, str):
        return [o.ref for o in refs.find(value)]
    return []


def substitute_data(value: Any, values: Mapping[refs.Ref, Any]) -> Any:
    if isinstance(value, dict):
        return {k: substitute_data(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_data(v, values) for v in value]
    if isinstance(value, str):
        return refs.substitute(value, values)
    return value


# A surrogate pair as json.dumps writes it, not preceded by an escaped backslash.
_SURROGATE_PAIR = re.compile(r"(?<!\\)((?:\\\\)*)\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})")


def yaml_quoted(value: object) -> str:
    """`value` as one double-quoted YAML scalar (or a plain number, bool, null).

    JSON's escapes are YAML's, with one exception the fuzzer found: YAML has no
    surrogate escapes, so a character beyond the Basic Multilingual Plane,
    which `json.dumps` writes as a `\\ud83d\\ude00` pair, is written `\\U0001f600`.
    """

    def merged(match: re.Match[str]) -> str:
        high, low = int(match[2], 16) - 0xD800, int(match[3], 16) - 0xDC00
        return f"{match[1]}\\U{0x10000 + (high << 10) + low:08x}"

    return _SURROGATE_PAIR.sub(merged, json.dumps(value, ensure_ascii=True))
