"""SealedSecret: values sealed in Git, written into a target like a SecretSync's (issue #13).

secretloom's own kind, so it never clashes with Bitnami's CRD. The values are
Bitnami-format ciphertexts (`kubeseal` or `secretloom seal`), all of one
scope; a strict scope binds them to this namespace and `spec.target.name`,
which is what kubeseal's `--namespace`/`--name` name. The controller does
not write the target itself: it keeps one SecretSync of the same name,
owned by the SealedSecret, whose entries are `from.sealed` values, so the
field manager, Merge/Owner, conflicts, drift and deletion are exactly a
SecretSync's (see docs/sealed-secrets.md). Its status mirrors that
SecretSync's conditions.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, JsonValue, StringConstraints, field_validator

from secretloom.api.base import Model
from secretloom.api.conditions import Condition
from secretloom.api.sealing import BASE64_PATTERN, MAX_SEALED_CHARS
from secretloom.api.secretsync import SECRET_KEY_PATTERN, Target, conditions_field

KIND = "SealedSecret"
_SECRET_KEY = re.compile(SECRET_KEY_PATTERN)
KEY_RULES: list[JsonValue] = [
    {
        "rule": f"self.all(k, size(k) <= 253 && k.matches(r'{SECRET_KEY_PATTERN}'))",
        "message": "every encryptedData key must be a valid Secret key",
    }
]
PLURAL = "sealedsecrets"

Ciphertext = Annotated[
    str, StringConstraints(min_length=4, max_length=MAX_SEALED_CHARS, pattern=BASE64_PATTERN)
]


class SealedSecretSpec(Model):
    target: Target = Field(
        description="The Secret the values are written into, with a SecretSync's policies."
    )
    scope: Literal["strict", "namespace-wide", "cluster-wide"] = Field(
        default="strict",
        description=(
            "The scope every value was sealed for: strict (this namespace and "
            "spec.target.name), namespace-wide or cluster-wide."
        ),
    )
    encrypted_data: dict[str, Ciphertext] = Field(
        min_length=1,
        max_length=256,
        description="Target key -> its sealed value (base64), as kubeseal writes encryptedData.",
        json_schema_extra={"x-kubernetes-validations": KEY_RULES},
    )

    @field_validator("encrypted_data")
    @classmethod
    def _valid_keys(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k in value if len(k) > 253 or not _SECRET_KEY.match(k))
        if bad:
            raise ValueError(f"not valid Secret keys: {bad}")
        return value


class SealedSecretStatus(Model):
    observed_generation: int = Field(default=0, description="Last generation reconciled.")
    secret_sync: str = Field(
        default="", description="The SecretSync (same name) that writes the values."
    )
    conditions: list[Condition] = conditions_field(
        "Ready (mirrored from the SecretSync, or why it could not be made)."
    )
