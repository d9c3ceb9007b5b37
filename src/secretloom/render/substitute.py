"""References replaced in place in YAML text, and in parsed data.

Manifests and values files are edited in place rather than parsed and
re-emitted: only scalars that hold a reference change (each becomes a JSON
double-quoted string, valid YAML), every other byte stays as written. A
re-emit would pass each value through a YAML library's type rules, and
PyYAML's (1.1) and Kubernetes' (go-yaml) disagree (`yes`, `0777`, `1_000`),
so an untouched `replicas: 010` could silently change meaning.

Like argocd-vault-plugin, a resolved value under `data:` of a `kind: Secret`
is base64-encoded (`stringData` takes it as is).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from secretloom.render import refs
from secretloom.render.errors import RenderError


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
        if not refs.might_contain(self.text):
            return
        try:
            for document in yaml.compose_all(self.text, Loader=yaml.SafeLoader):
                if document is not None:
                    self._collect(document, secret_data=_secret_data(document), seen=set())
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise RenderError(f"{name}: invalid YAML{where}") from None
        except RenderError as err:
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
            out += [self.text[last:start], json.dumps(value, ensure_ascii=True), trailing]
            last = end
        return "".join([*out, self.text[last:]])

    def _collect(self, node: Node, *, secret_data: Node | None, seen: set[int]) -> None:
        if id(node) in seen:  # an alias: its anchor is substituted once
            return
        seen.add(id(node))
        if isinstance(node, ScalarNode):
            found = refs.find(node.value)
            if found:
                self._sites.append(
                    _Site(node, found, secret_data is not None and node in _values(secret_data))
                )
        elif isinstance(node, MappingNode):
            for _, value in node.value:  # keys are never substituted
                self._collect(value, secret_data=secret_data, seen=seen)
        elif isinstance(node, SequenceNode):
            for item in node.value:
                self._collect(item, secret_data=secret_data, seen=seen)


def _secret_data(document: Node) -> Node | None:
    """The `data` mapping of a `kind: Secret` document, if any."""
    if not isinstance(document, MappingNode):
        return None
    fields = {k.value: v for k, v in document.value if isinstance(k, ScalarNode)}
    kind = fields.get("kind")
    if isinstance(kind, ScalarNode) and kind.value == "Secret":
        return fields.get("data")
    return None


def _values(mapping: Node) -> list[Node]:
    return [v for _, v in mapping.value] if isinstance(mapping, MappingNode) else []


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
