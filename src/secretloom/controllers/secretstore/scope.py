"""Which namespaces may use a ClusterSecretStore: a pure function of its spec and labels.

A namespace is allowed when its name is in `spec.namespaces` or its labels
match `spec.namespaceSelector` (Kubernetes label-selector semantics: every
`matchLabels` pair and every `matchExpressions` requirement must hold; an empty
selector matches everything). The refusal message names the store, the
namespace and the fields to change, so a user reading the SecretSync's
condition knows whom to ask and what for.
"""

from __future__ import annotations

from collections.abc import Mapping

from secretloom.api.stores import ClusterSecretStoreSpec, LabelSelector, LabelSelectorRequirement


def _holds(requirement: LabelSelectorRequirement, labels: Mapping[str, str]) -> bool:
    present = requirement.key in labels
    if requirement.operator == "Exists":
        return present
    if requirement.operator == "DoesNotExist":
        return not present
    inside = present and labels[requirement.key] in requirement.values
    return inside if requirement.operator == "In" else not inside


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.match_labels.items()) and all(
        _holds(r, labels) for r in selector.match_expressions
    )


def refusal(
    spec: ClusterSecretStoreSpec, store: str, namespace: str, labels: Mapping[str, str] | None
) -> str | None:
    """Why `namespace` may not use the store, or None if it may.

    `labels` None means the namespace is unknown (not in the cache): only the
    name list can allow it then.
    """
    if namespace in spec.namespaces:
        return None
    selector = spec.namespace_selector
    if selector is not None and labels is not None and selector_matches(selector, labels):
        return None
    return (
        f"ClusterSecretStore {store!r} does not allow namespace {namespace!r} "
        "(its spec.namespaces and spec.namespaceSelector decide)"
    )
