"""SecretStore and ClusterSecretStore: where store entries of a SecretSync read from.

A store holds one provider block, `spec.provider.<name>`, whose name is the
provider's registry name (`secretloom.providers` entry points) and whose body
is that provider's spec. The schema types the built-in providers (vault), so
admission refuses a malformed block with the field named; exactly one must be
set (a pydantic validator and the same rule in CEL).

Scoping, the rule every read follows (ESO CVE-2026-42875 was a cross-namespace
read through a reference's `namespace` field):

* A SecretStore is used only by SecretSyncs of its own namespace, and its
  credential and CA references (Secrets, ConfigMaps, the ServiceAccount of
  Kubernetes auth) are read from that same namespace.
* A ClusterSecretStore names the one namespace its credentials live in
  (`credentialsNamespace`, required, as External Secrets requires an explicit
  namespace on a ClusterSecretStore's references); every credential read is
  pinned there, whoever uses the store. It is usable only from namespaces it
  allows: listed in `namespaces`, or matching `namespaceSelector` (an empty
  selector matches every namespace). Setting neither is refused: the default
  is closed, not open.

The provider block of a SecretStore is the same object `secretloom render`
reads from the cluster (`render/stores.py`), so one store serves both.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, JsonValue, model_validator
from pydantic.alias_generators import to_camel

from secretloom.api.aws import AWSProviderSpec
from secretloom.api.base import Model
from secretloom.api.conditions import Condition
from secretloom.api.secretsync import NamespaceName, conditions_field
from secretloom.api.vault import VaultProviderSpec

STORE_KIND = "SecretStore"
STORE_PLURAL = "secretstores"
CLUSTER_STORE_KIND = "ClusterSecretStore"
CLUSTER_STORE_PLURAL = "clustersecretstores"

# Field of `spec.provider` -> the provider's registry name.
_PROVIDERS = {
    "vault": "vault",
    "aws_secrets_manager": "aws-secretsmanager",
    "aws_parameter_store": "aws-parameterstore",
}
_WIRE = ", ".join(to_camel(field) for field in _PROVIDERS)
PROVIDER_RULES: list[JsonValue] = [
    {
        "rule": " + ".join(f"(has(self.{to_camel(f)}) ? 1 : 0)" for f in _PROVIDERS) + " == 1",
        "message": f"set exactly one provider ({_WIRE})",
    }
]
SCOPE_RULES: list[JsonValue] = [
    {
        "rule": "(has(self.namespaces) && size(self.namespaces) > 0)"
        " || has(self.namespaceSelector)",
        "message": (
            "set namespaces and/or namespaceSelector (an empty namespaceSelector allows "
            "every namespace)"
        ),
    }
]


def registry_name(block: str) -> str:
    """The registry name of a provider block (`awsSecretsManager` -> `aws-secretsmanager`).

    A registry name passes unchanged, so a stores file may use either spelling.
    """
    by_wire = {to_camel(field): name for field, name in _PROVIDERS.items()}
    return by_wire.get(block, block)


class StoreProvider(Model):
    """Exactly one provider block, named as the provider is registered."""

    vault: VaultProviderSpec | None = Field(
        default=None, description="HashiCorp Vault or OpenBao, one KV mount."
    )
    aws_secrets_manager: AWSProviderSpec | None = Field(
        default=None, description="AWS Secrets Manager in one region (provider aws-secretsmanager)."
    )
    aws_parameter_store: AWSProviderSpec | None = Field(
        default=None,
        description="AWS Systems Manager Parameter Store in one region (aws-parameterstore).",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> StoreProvider:
        if len(self.selected_names()) != 1:
            raise ValueError(f"set exactly one provider ({_WIRE})")
        return self

    def selected_names(self) -> list[str]:
        """Registry names of the providers that are set."""
        return [name for field, name in _PROVIDERS.items() if getattr(self, field) is not None]

    def selected(self) -> tuple[str, Model]:
        """(registry name, spec) of the one provider set."""
        ((field, name),) = [(f, n) for f, n in _PROVIDERS.items() if getattr(self, f) is not None]
        spec: Model = getattr(self, field)
        return name, spec


class LabelSelectorRequirement(Model):
    key: str = Field(min_length=1, max_length=317, description="Label key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="How the label's value relates to `values`."
    )
    values: list[str] = Field(
        default_factory=list, description="Values for In and NotIn; empty otherwise."
    )


class LabelSelector(Model):
    """A Kubernetes label selector; every requirement must hold (empty matches all)."""

    match_labels: dict[str, str] = Field(
        default_factory=dict, description="Labels that must be present with these values."
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, description="Further requirements, all of which must hold."
    )


class SecretStoreSpec(Model):
    provider: StoreProvider = Field(
        description="The provider and its settings; credentials are read from this namespace.",
        json_schema_extra={"x-kubernetes-validations": PROVIDER_RULES},
    )


class ClusterSecretStoreSpec(Model):
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": SCOPE_RULES})

    provider: StoreProvider = Field(
        description=(
            "The provider and its settings; credentials are read from credentialsNamespace."
        ),
        json_schema_extra={"x-kubernetes-validations": PROVIDER_RULES},
    )
    credentials_namespace: NamespaceName = Field(
        description=(
            "The namespace every credential reference of the provider block (Secrets, "
            "ConfigMaps, the ServiceAccount of Kubernetes auth) is read from."
        )
    )
    namespaces: list[NamespaceName] = Field(
        default_factory=list,
        max_length=1024,
        description="Namespaces whose SecretSyncs may use this store.",
    )
    namespace_selector: LabelSelector | None = Field(
        default=None,
        description=(
            "Namespaces, by label, whose SecretSyncs may use this store, in addition to "
            "`namespaces`. An empty selector ({}) allows every namespace."
        ),
    )

    @model_validator(mode="after")
    def _scoped(self) -> ClusterSecretStoreSpec:
        if not self.namespaces and self.namespace_selector is None:
            raise ValueError("set namespaces and/or namespaceSelector")
        return self


class StoreStatus(Model):
    observed_generation: int = Field(default=0, description="Last generation validated.")
    provider: str = Field(default="", description="Name of the provider in use.")
    conditions: list[Condition] = conditions_field(
        "Ready: the controller authenticated and read the store's configuration "
        "(for Vault: the KV mount's type and version)."
    )
