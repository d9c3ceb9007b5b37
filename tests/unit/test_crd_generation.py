"""CRDs are generated from the models; the committed copies must match."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from secretloom.api import crd
from secretloom.cli.crds import rendered


def test_committed_crds_match_the_models(repo_root: Path) -> None:
    for name, text in rendered().items():
        committed = repo_root / "deploy" / "crds" / name
        assert committed.read_text() == text, f"{name} drifted: run `secretloom crds generate`"


def _walk(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        return [node, *(n for v in node.values() for n in _walk(v))]
    if isinstance(node, list):
        return [n for v in node for n in _walk(v)]
    return []


def test_schemas_are_structural() -> None:
    for resource in crd.RESOURCES:
        schema = crd.definition(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        for node in _walk(schema):
            assert "$ref" not in node and "anyOf" not in node and "title" not in node
            if "properties" in node or "items" in node:
                assert node.get("type") in ("object", "array"), node
            assert node.get("additionalProperties") is not False
