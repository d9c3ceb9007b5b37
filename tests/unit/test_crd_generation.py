"""CRDs are generated from the models; the committed copies must match."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from secretloom.api import crd
from secretloom.api.base import Model
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


def _models(model: type[Model], seen: set[type[Model]]) -> set[type[Model]]:
    """`model` and every model its fields hold, however deeply (lists, optionals)."""
    if model in seen:
        return seen
    seen.add(model)
    for info in model.model_fields.values():
        for kind in _types(info.annotation):
            if isinstance(kind, type) and issubclass(kind, Model):
                _models(kind, seen)
    return seen


def _types(annotation: Any) -> list[Any]:
    args = typing.get_args(annotation)
    return [annotation] if not args else [t for a in args for t in _types(a)]


def test_every_field_validator_of_a_spec_has_a_cel_twin() -> None:
    """What the controller's models refuse, admission refuses too: a spec the API server admits
    but the model rejects is an object the controller can neither act on nor clean up after (a
    `revokeGrace` over 1h once finalized without releasing its keys)."""
    models: set[type[Model]] = set()
    for resource in crd.RESOURCES:
        _models(resource.spec, models)
    missing = []
    for model in sorted(models, key=lambda m: m.__name__):
        schema = crd.openapi_schema(model)
        for validator in model.__pydantic_decorators__.field_validators.values():
            for field in validator.info.fields:
                node = schema["properties"][model.model_fields[field].alias or field]
                if "x-kubernetes-validations" not in {**node, **node.get("items", {})}:
                    missing.append(f"{model.__name__}.{field}")
    assert missing == []
