"""The `spec.provider.awsSecretsManager` / `awsParameterStore` blocks of a store (issue 16).

Both AWS providers take one spec: a region, optional endpoints (a VPC
endpoint, or an emulator in tests) and one way to authenticate:

* `auth.secretRef`: static access keys read from Secrets of the store's
  credential namespace (for clusters outside AWS);
* `auth.jwt`: IRSA. A token for the named ServiceAccount is requested from the
  API server (TokenRequest, audience `sts.amazonaws.com` unless told) and
  exchanged for temporary credentials of `roleArn` with STS
  AssumeRoleWithWebIdentity. No token file, no AWS SDK environment variables:
  the controller serves many stores, each with its own role.

The shape follows External Secrets' AWS provider (`region`, `auth.secretRef`
with `accessKeyIDSecretRef` / `secretAccessKeySecretRef` /
`sessionTokenSecretRef`, `auth.jwt.serviceAccountRef`) so manifests port over
with few edits. The deliberate differences are the Vault block's: no
`namespace` on any reference (credentials are read from the store's
credential namespace only), and the role to assume sits in `auth.jwt.roleArn`
rather than in the ServiceAccount's `eks.amazonaws.com/role-arn` annotation,
so the store says what it assumes and the controller needs no read access to
ServiceAccounts.

Validation errors never echo the input (`hide_input_in_errors`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, JsonValue, field_validator, model_validator

from secretloom.api.base import Model
from secretloom.api.vault import URL_RULES, SecretKeyRef, ServiceAccountRef, server_url

STS_AUDIENCE = "sts.amazonaws.com"
_REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"
_ROLE_ARN_PATTERN = r"^arn:aws[-a-z]*:iam::[0-9]{12}:role/[-a-zA-Z0-9_+=,.@/]+$"

AUTH_RULES: list[JsonValue] = [
    {
        "rule": "(has(self.secretRef) ? 1 : 0) + (has(self.jwt) ? 1 : 0) == 1",
        "message": "set exactly one of secretRef, jwt",
    }
]
SPEC_RULES: list[JsonValue] = [
    {
        "rule": f"!has(self.{field}) || !self.{field}.matches('^[^:/?#]*://[^/?#]*@')",
        "message": f"{field} must not contain credentials (user:password@)",
    }
    for field in ("endpoint", "stsEndpoint")
]


class _AWSModel(Model):
    model_config = ConfigDict(hide_input_in_errors=True)


class AWSStaticKeys(_AWSModel):
    """An access key pair (and optionally a session token) read from Secrets."""

    access_key_id_secret_ref: SecretKeyRef = Field(
        alias="accessKeyIDSecretRef", description="Secret key holding the access key ID."
    )
    secret_access_key_secret_ref: SecretKeyRef = Field(
        description="Secret key holding the secret access key."
    )
    session_token_secret_ref: SecretKeyRef | None = Field(
        default=None, description="Secret key holding a session token (temporary keys)."
    )


class AWSServiceAccountRef(ServiceAccountRef):
    """A ServiceAccount whose short-lived token (TokenRequest API) is the web identity."""

    audiences: tuple[Annotated[str, Field(min_length=1)], ...] = Field(
        default=(STS_AUDIENCE,),
        min_length=1,
        description=(
            "Audiences requested for the token; must match the audience of the IAM OIDC "
            "provider (`sts.amazonaws.com` on EKS). The operator allows it with "
            "`secretloom controller --token-audiences`."
        ),
    )


class AWSWebIdentity(_AWSModel):
    """IRSA: a ServiceAccount token exchanged for a role's credentials (STS)."""

    role_arn: str = Field(
        pattern=_ROLE_ARN_PATTERN,
        max_length=2048,
        description="ARN of the IAM role to assume, e.g. `arn:aws:iam::123456789012:role/app`.",
    )
    service_account_ref: AWSServiceAccountRef = Field(
        description="ServiceAccount, in the store's credential namespace, to request a token for."
    )


class AWSAuth(_AWSModel):
    """How to obtain AWS credentials. Exactly one method must be set."""

    secret_ref: AWSStaticKeys | None = Field(
        default=None, description="Static access keys read from Secrets."
    )
    jwt: AWSWebIdentity | None = Field(
        default=None,
        description=(
            "IRSA: AssumeRoleWithWebIdentity with a ServiceAccount token; the temporary "
            "credentials are renewed before they expire."
        ),
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> AWSAuth:
        chosen = self.methods()
        if len(chosen) != 1:
            raise ValueError(
                f"set exactly one of secretRef, jwt (got {', '.join(chosen) or 'none'})"
            )
        return self

    def methods(self) -> list[str]:
        return [
            name
            for name, value in (("secretRef", self.secret_ref), ("jwt", self.jwt))
            if value is not None
        ]


class AWSProviderSpec(_AWSModel):
    """AWS Secrets Manager or Systems Manager Parameter Store in one region."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": SPEC_RULES})

    region: str = Field(
        pattern=_REGION_PATTERN, max_length=32, description="AWS region, e.g. `eu-west-1`."
    )
    endpoint: str | None = Field(
        default=None,
        max_length=2048,
        description=(
            "Service endpoint URL (a VPC endpoint, or an emulator); default: the "
            "service's regional AWS endpoint."
        ),
        json_schema_extra={"x-kubernetes-validations": URL_RULES},
    )
    sts_endpoint: str | None = Field(
        default=None,
        max_length=2048,
        description="STS endpoint URL for `auth.jwt`; default: the regional STS endpoint.",
        json_schema_extra={"x-kubernetes-validations": URL_RULES},
    )
    auth: AWSAuth = Field(
        description="How to authenticate; exactly one method.",
        json_schema_extra={"x-kubernetes-validations": AUTH_RULES},
    )

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        return None if value is None else server_url(value, "endpoint")

    @field_validator("sts_endpoint")
    @classmethod
    def _check_sts_endpoint(cls, value: str | None) -> str | None:
        return None if value is None else server_url(value, "stsEndpoint")

    def service_url(self, service: str) -> str:
        """The endpoint of `service` ("secretsmanager", "ssm", "sts") in this region."""
        explicit = self.sts_endpoint if service == "sts" else self.endpoint
        return explicit or f"https://{service}.{self.region}.amazonaws.com"
