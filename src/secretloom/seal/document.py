"""Sealing a set of values into a SealedSecret document (issue #13).

Two shapes: secretloom's own `secretloom.io/v1alpha1` SealedSecret (scope in
`spec.scope`, keys in `spec.encryptedData`, the target like a SecretSync's)
and Bitnami's `bitnami.com/v1alpha1` SealedSecret (scope in annotations), the
one `kubeseal --recovery-unseal` reads. Both hold the same ciphertexts: a
value sealed for one opens in the other.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import rsa

from secretloom.seal.cipher import seal
from secretloom.seal.scope import Scope, label, scope_annotations

Flavour = Literal["secretloom", "bitnami"]
FLAVOURS: tuple[Flavour, ...] = ("secretloom", "bitnami")


def seal_values(
    public_key: rsa.RSAPublicKey,
    values: Mapping[str, bytes],
    *,
    scope: Scope,
    namespace: str,
    name: str,
) -> dict[str, str]:
    """Each value sealed for the scope, base64 as `encryptedData` holds it."""
    bound = label(scope, namespace, name)
    return {
        key: base64.b64encode(seal(public_key, value, bound)).decode()
        for key, value in sorted(values.items())
    }


def document(
    encrypted: Mapping[str, str],
    *,
    scope: Scope,
    namespace: str,
    name: str,
    target: str = "",
    flavour: Flavour = "secretloom",
    target_type: str = "Opaque",
) -> dict[str, Any]:
    """A SealedSecret holding `encrypted` (from `seal_values` for `target`, default `name`)."""
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if flavour == "bitnami":
        annotations = scope_annotations(scope)
        if annotations:
            metadata["annotations"] = annotations
        return {
            "apiVersion": "bitnami.com/v1alpha1",
            "kind": "SealedSecret",
            "metadata": metadata,
            "spec": {
                "encryptedData": dict(encrypted),
                "template": {"metadata": dict(metadata), "type": target_type},
            },
        }
    return {
        "apiVersion": "secretloom.io/v1alpha1",
        "kind": "SealedSecret",
        "metadata": metadata,
        "spec": {
            "scope": scope,
            "target": {"name": target or name, "type": target_type},
            "encryptedData": dict(encrypted),
        },
    }
