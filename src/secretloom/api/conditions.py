"""Status conditions in the shape `kubectl` and every Kubernetes tool expect.

Condition lists are keyed by `type` (a CRD list-map), each with
`observedGeneration`, `reason` (CamelCase, machine-readable) and `message` (for
people; never a secret value). `lastTransitionTime` changes only when `status`
flips, so re-asserting a condition does not make a status write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

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
    previous: Sequence[Mapping[str, Any]], desired: Iterable[Mapping[str, Any]], *, timestamp: str
) -> list[dict[str, Any]]:
    """The desired conditions, keeping each one's transition time when its status is unchanged.

    On the wire form (`Condition.model_dump(by_alias=True)`), not the model: it
    runs on every reconcile, and validating and copying the conditions twice
    there was most of the status cost at 10,000 SecretSyncs (issue 17).
    """
    before = {c.get("type"): c for c in previous}
    merged = []
    for condition in desired:
        old = before.get(condition["type"])
        kept = (
            old.get("lastTransitionTime")
            if old and old.get("status") == condition["status"]
            else ""
        )
        merged.append({**condition, "lastTransitionTime": kept or timestamp})
    return merged
