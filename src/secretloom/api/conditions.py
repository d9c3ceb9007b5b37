"""Status conditions in the shape `kubectl` and every Kubernetes tool expect.

Condition lists are keyed by `type` (a CRD list-map), each with
`observedGeneration`, `reason` (CamelCase, machine-readable) and `message` (for
people; never a secret value). `lastTransitionTime` changes only when `status`
flips, so re-asserting a condition does not make a status write.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import Field

from secretloom.api.base import Model

ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(Model):
    type: str = Field(description="Condition type, e.g. Ready, Conflict.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase reason for the last transition.")
    message: str = Field(default="", description="Human-readable detail; never a secret value.")
    observed_generation: int = Field(
        default=0, description="metadata.generation the condition was computed for."
    )
    last_transition_time: str = Field(
        default="", description="RFC 3339 time the status last changed."
    )


def merge(
    previous: Sequence[Condition], desired: Iterable[Condition], *, timestamp: str
) -> list[Condition]:
    """The desired conditions, keeping each one's transition time when its status is unchanged."""
    before = {c.type: c for c in previous}
    merged = []
    for condition in desired:
        old = before.get(condition.type)
        keep = old is not None and old.status == condition.status and old.last_transition_time
        merged.append(
            condition.model_copy(
                update={
                    "last_transition_time": old.last_transition_time
                    if keep and old is not None
                    else timestamp
                }
            )
        )
    return merged
