"""Conventions every resource model follows.

Kubernetes fields are camelCase on the wire and snake_case in Python; models
are frozen so an observed object can be shared between the cache and a
reconciler without defensive copies. Unknown fields are rejected so a typo in a
manifest is an error, not a silently ignored setting (the CRD schema enforces
the same at admission).

An empty string default means "not set", and not set is absent on the wire:
a string field left at its `""` default is omitted when a model is serialised,
and the generated schema gives it no default (a `default: ''` would make the
API server write the empty string back into every object). Kubernetes' own
types do the same with `omitempty` (issue 10: statuses full of `""`). Reading is
unchanged: an absent field and an older object's `""` both parse to `""`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    GetJsonSchemaHandler,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


class Model(BaseModel):
    """Base of every spec/status model: camelCase aliases, frozen, strict keys."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="forbid",
    )
    # (name, alias) of each string field whose default is "" (unset), per model class.
    _unset_when_empty: ClassVar[tuple[tuple[str, str], ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._unset_when_empty = tuple(
            (name, info.alias or name)
            for name, info in cls.model_fields.items()
            if isinstance(info.default, str) and info.default == ""
        )

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for name, alias in self._unset_when_empty:
                if getattr(self, name) == "":
                    data.pop(alias if info.by_alias else name, None)
        return data

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        resolved = handler.resolve_ref_schema(schema)
        for prop in (resolved.get("properties") or {}).values():
            if prop.get("default") == "":
                del prop["default"]
        return schema
