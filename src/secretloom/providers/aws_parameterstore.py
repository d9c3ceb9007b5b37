"""The AWS Systems Manager Parameter Store provider, `aws-parameterstore` (issue 16).

A `ValueRef` names a parameter (`path`, e.g. `/team/app/db-password`),
optionally pinned to a numbered version (`version`) or a label (`stage`), which
Parameter Store selects with its own `name:version` / `name:label` syntax.
SecureString parameters are decrypted (`WithDecryption`), so the role needs
`kms:Decrypt` on their key.

* `get` without a property: the parameter's value; with a property: that key
  of the JSON object the value holds (as the Secrets Manager provider does).
* `get_all`: every parameter below `path`, recursively (GetParametersByPath,
  every page), each a key named by its name relative to `path` with `/`
  turned into `_` (`/team/app/` + `db/user` -> `db_user`), since a Secret key
  cannot hold `/`. Two names that map to one key are InvalidConfig, naming
  both parameters: a silent pick would hide one of them. An empty path is
  NotFound, so the caller keeps the keys it had. The pages add up to at most
  `MAX_TOTAL_BYTES` of values.

`validate` checks the credentials with a DescribeParameters of one item; an
AccessDenied (a role that may only read its parameters) is accepted.

Client, transport, bounds and errors: `providers/aws.py`.
"""

from __future__ import annotations

from typing import Any

from secretloom.api.aws import AWSProviderSpec
from secretloom.api.base import Model
from secretloom.providers.aws import ACCESS_DENIED, AWSClient
from secretloom.providers.aws_secretsmanager import property_of
from secretloom.providers.protocol import (
    InvalidConfig,
    NotFound,
    Provider,
    ProviderContext,
    Unavailable,
    ValueRef,
)
from secretloom.providers.registry import ProviderFactory


class ParameterStoreProvider(AWSClient):
    service = "ssm"
    title = "aws-parameterstore"

    async def get(self, ref: ValueRef) -> bytes:
        subject = self.subject(ref, noun="parameter")
        if ref.version_id is not None:
            raise InvalidConfig(f"{subject}: Parameter Store pins a version or a label, not an ID")
        if ref.version is not None and ref.stage is not None:
            raise InvalidConfig(f"{subject}: pin version or versionStage (a label), not both")
        pin = ref.version if ref.version is not None else ref.stage
        name = ref.path if pin is None else f"{ref.path}:{pin}"

        async def read() -> dict[str, Any]:
            return await self.call("get_parameter", subject, Name=name, WithDecryption=True)

        answer = await self.bounded(read, subject)
        value = (answer.get("Parameter") or {}).get("Value")
        if not isinstance(value, str):
            raise Unavailable(f"{subject}: answered without a value")
        return property_of(value.encode(), ref, subject)

    async def get_all(self, ref: ValueRef) -> dict[str, bytes]:
        subject = self.subject(ValueRef(ref.path), noun="path")
        if ref.version is not None or ref.stage is not None or ref.version_id is not None:
            raise InvalidConfig(f"{subject}: a path of parameters cannot be pinned to a version")

        async def read() -> list[dict[str, Any]]:
            return await self.pages(
                "get_parameters_by_path",
                subject,
                Path=ref.path,
                Recursive=True,
                WithDecryption=True,
            )

        pages = await self.bounded(read, subject)
        prefix = ref.path.rstrip("/") + "/"
        found: dict[str, bytes] = {}
        names: dict[str, str] = {}
        for page in pages:
            for parameter in page.get("Parameters") or ():
                name, value = parameter.get("Name"), parameter.get("Value")
                if not isinstance(name, str) or not isinstance(value, str):
                    raise Unavailable(f"{subject}: answered a parameter without a name or value")
                key = name.removeprefix(prefix).replace("/", "_")
                if key in names:
                    raise InvalidConfig(
                        f"{subject}: parameters {names[key]!r} and {name!r} both map to key {key!r}"
                    )
                names[key] = name
                found[key] = value.encode()
        if not found:
            raise NotFound(f"{subject}: no parameters below the path")
        return found

    async def validate(self) -> None:
        subject = f"{self.subject()} credentials check"

        async def check() -> None:
            await self.call("describe_parameters", subject, allow=ACCESS_DENIED, MaxResults=1)

        await self.bounded(check, subject)


class ParameterStoreFactory:
    """Registered under the `secretloom.providers` entry point as "aws-parameterstore"."""

    name = "aws-parameterstore"
    spec_model: type[Model] = AWSProviderSpec

    def create(self, spec: Model, ctx: ProviderContext) -> Provider:
        if not isinstance(spec, AWSProviderSpec):
            raise TypeError(f"{self.name} needs an AWSProviderSpec, got {type(spec).__name__}")
        return ParameterStoreProvider(spec, ctx)


factory: ProviderFactory = ParameterStoreFactory()
