"""Conventions every resource model follows.

Kubernetes fields are camelCase on the wire and snake_case in Python; models
are frozen so an observed object can be shared between the cache and a
reconciler without defensive copies. Unknown fields are rejected so a typo in a
manifest is an error, not a silently ignored setting (the CRD schema enforces
the same at admission).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Model(BaseModel):
    """Base of every spec/status model: camelCase aliases, frozen, strict keys."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="forbid",
    )
