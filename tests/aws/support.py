"""Shared helpers of the AWS provider tests (not fixtures)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, Protocol

from secretloom.api.aws import AWSProviderSpec
from secretloom.providers.protocol import Provider
from secretloom.testing.moto import REGION, MotoServer
from tests.openbao.support import Objects

# moto accepts any keys (until `enforcing_auth`): these are canaries, never to be seen.
KEY_ID_CANARY = f"AKIACANARY{secrets.token_hex(5).upper()}"
SECRET_KEY_CANARY = f"canary-secret-key-{secrets.token_hex(10)}"
KEYS_SECRET = "aws-keys"
STATIC_AUTH = {
    "secretRef": {
        "accessKeyIDSecretRef": {"name": KEYS_SECRET, "key": "id"},
        "secretAccessKeySecretRef": {"name": KEYS_SECRET, "key": "secret"},
    }
}
ROLE_ARN = "arn:aws:iam::123456789012:role/secretloom-reader"


def keys_objects(key_id: str = KEY_ID_CANARY, secret: str = SECRET_KEY_CANARY) -> Objects:
    return Objects(
        secrets={(KEYS_SECRET, "id"): key_id.encode(), (KEYS_SECRET, "secret"): secret.encode()}
    )


def block(server: MotoServer, auth: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A provider block on the emulator (both endpoints), static keys unless told."""
    return {
        "region": REGION,
        "endpoint": server.address,
        "stsEndpoint": server.address,
        "auth": auth or STATIC_AUTH,
        **fields,
    }


def spec(server: MotoServer, **fields: Any) -> AWSProviderSpec:
    return AWSProviderSpec.model_validate(block(server, **fields))


class OpenAWS(Protocol):
    """Builds a provider that the fixture closes after the test."""

    def __call__(
        self,
        cls: Callable[..., Provider],
        server: MotoServer,
        objects: Objects | None = None,
        **kwargs: Any,
    ) -> Provider: ...
