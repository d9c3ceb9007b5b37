"""Sealing scopes and the OAEP label each binds (issue #13).

The label is computed only from the object's own namespace and name and the
scope it declares; never from a template, an annotation of the decrypted
Secret, or anything else an author could set after sealing. Declaring a wider
scope than the ciphertext was sealed for does not widen it: the label differs
and OAEP refuses (the Sealed Secrets CVE-2026-22728 class).
"""

from __future__ import annotations

from typing import Literal

Scope = Literal["strict", "namespace-wide", "cluster-wide"]
SCOPES: tuple[Scope, ...] = ("strict", "namespace-wide", "cluster-wide")

# The annotations Bitnami's kubeseal writes on a SealedSecret to say its scope.
NAMESPACE_WIDE_ANNOTATION = "sealedsecrets.bitnami.com/namespace-wide"
CLUSTER_WIDE_ANNOTATION = "sealedsecrets.bitnami.com/cluster-wide"


def label(scope: Scope, namespace: str, name: str) -> bytes:
    """The OAEP label: `namespace/name` (strict), `namespace`, or empty (cluster-wide)."""
    if scope == "cluster-wide":
        return b""
    if scope == "namespace-wide":
        return namespace.encode()
    return f"{namespace}/{name}".encode()


def scope_annotations(scope: Scope) -> dict[str, str]:
    """The annotations kubeseal would put on a SealedSecret of `scope`."""
    if scope == "cluster-wide":
        return {CLUSTER_WIDE_ANNOTATION: "true"}
    if scope == "namespace-wide":
        return {NAMESPACE_WIDE_ANNOTATION: "true"}
    return {}
