"""A ValidationError becomes field paths only: never the input that failed."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, model_validator

from secretloom.api.invalid import invalid_fields


class Inner(BaseModel):
    port: int


class Outer(BaseModel):
    name: str
    inner: Inner
    items: list[int] = []

    @model_validator(mode="after")
    def _named(self) -> Outer:
        if self.name == "whole":
            raise ValueError("the object as a whole is wrong")
        return self


def test_paths_only_never_the_input() -> None:
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate({"name": 7, "inner": {"port": "s3cr3t"}})
    assert invalid_fields(caught.value) == "name, inner.port"
    assert "s3cr3t" not in invalid_fields(caught.value)


def test_a_whole_object_error_and_a_long_list() -> None:
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate({"name": "whole", "inner": {"port": 1}})
    assert invalid_fields(caught.value, whole="spec") == "spec"
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate({"name": "n", "inner": {"port": 1}, "items": ["x"] * 7})
    assert (
        invalid_fields(caught.value) == "items.0, items.1, items.2, items.3, items.4 (and 2 more)"
    )
