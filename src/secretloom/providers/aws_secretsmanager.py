"""The AWS Secrets Manager provider, `aws-secretsmanager` (issue 16).

A `ValueRef` names a secret by name or ARN (`path`), optionally pinned to a
version stage (`stage`, e.g. AWSPREVIOUS) or a version ID (`version_id`);
Secrets Manager has no numbered versions, so `version` is refused.

* `get` without a property: the whole value, a SecretString as UTF-8 or a
  SecretBinary as its bytes.
* `get` with a property: that key of the JSON object the SecretString holds
  (strings as they are, anything else as compact JSON, as the Vault provider
  does); a value that is not a JSON object, or a binary one, is InvalidConfig,
  a missing key NotFound.
* `get_all`: every key of that JSON object.

Each read is one GetSecretValue. `validate` checks the credentials with a
ListSecrets of one item: a least-privilege role may hold only
`secretsmanager:GetSecretValue` on its secrets, so an AccessDenied there
(the keys were authenticated, the call not authorised) is accepted; wrong
keys and every other failure are not.

Client, transport, bounds and errors: `providers/aws.py`.
"""

from __future__ import annotations

import json
from typing import Any

from secretloom.api.aws import AWSProviderSpec
from secretloom.api.base import Model
from secretloom.providers.aws import ACCESS_DENIED, AWSClient
from secretloom.providers.protocol import (
    InvalidConfig,
    NotFound,
    Provider,
    ProviderContext,
    ValueRef,
)
from secretloom.providers.registry import ProviderFactory


def encode(value: Any) -> bytes:
    """A JSON property as bytes: strings as UTF-8, anything else as compact JSON."""
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def json_object(raw: bytes, subject: str) -> dict[str, Any]:
    """The JSON object a value holds; InvalidConfig (naming no content) otherwise."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise InvalidConfig(f"{subject}: the value is not a JSON object, it has no properties")
    return data


def property_of(raw: bytes, ref: ValueRef, subject: str) -> bytes:
    """`ref.property` of a JSON value, or the value itself when no property is asked for."""
    if ref.property is None:
        return raw
    data = json_object(raw, subject)
    if ref.property not in data:
        raise NotFound(f"{subject}: property not found")
    return encode(data[ref.property])


class SecretsManagerProvider(AWSClient):
    service = "secretsmanager"
    title = "aws-secretsmanager"

    async def get(self, ref: ValueRef) -> bytes:
        subject = self.subject(ref)
        return property_of(await self._value(ref, subject), ref, subject)

    async def get_all(self, ref: ValueRef) -> dict[str, bytes]:
        subject = self.subject(ValueRef(ref.path, None, ref.version, ref.stage, ref.version_id))
        data = json_object(await self._value(ref, subject), subject)
        return {name: encode(value) for name, value in data.items()}

    async def validate(self) -> None:
        subject = f"{self.subject()} credentials check"

        async def check() -> None:
            # A least-privilege role may only read its secrets: denied, yet authenticated.
            await self.call("list_secrets", subject, allow=ACCESS_DENIED, MaxResults=1)

        await self.bounded(check, subject)

    async def _value(self, ref: ValueRef, subject: str) -> bytes:
        if ref.version is not None:
            raise InvalidConfig(
                f"{subject}: Secrets Manager has no numbered versions; "
                "pin versionStage or versionId"
            )
        if ref.stage is not None and ref.version_id is not None:
            raise InvalidConfig(f"{subject}: pin versionStage or versionId, not both")
        params: dict[str, Any] = {"SecretId": ref.path}
        if ref.stage is not None:
            params["VersionStage"] = ref.stage
        if ref.version_id is not None:
            params["VersionId"] = ref.version_id

        async def read() -> dict[str, Any]:
            return await self.call("get_secret_value", subject, **params)

        answer = await self.bounded(read, subject)
        if isinstance(answer.get("SecretString"), str):
            return str(answer["SecretString"]).encode()
        if isinstance(answer.get("SecretBinary"), bytes):
            return bytes(answer["SecretBinary"])
        raise NotFound(f"{subject}: the version holds no value")


class SecretsManagerFactory:
    """Registered under the `secretloom.providers` entry point as "aws-secretsmanager"."""

    name = "aws-secretsmanager"
    spec_model: type[Model] = AWSProviderSpec
    # get(ref with a property) == get_all(ref)[property]: reads are shared per path.
    whole_path_reads = True

    def create(self, spec: Model, ctx: ProviderContext) -> Provider:
        if not isinstance(spec, AWSProviderSpec):
            raise TypeError(f"{self.name} needs an AWSProviderSpec, got {type(spec).__name__}")
        return SecretsManagerProvider(spec, ctx)


factory: ProviderFactory = SecretsManagerFactory()
