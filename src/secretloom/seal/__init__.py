"""Sealed Secrets, wire-compatible with Bitnami's `kubeseal` (issue #13).

Pure and in memory: `cipher` (the hybrid RSA-OAEP + AES-GCM format), `scope`
(the OAEP label of each scope), `keys` (key pairs and certificates),
`document` (SealedSecret objects of both flavours). No Kubernetes I/O: the
controller keeps keys in Secrets (controllers.sealedsecret) and the CLI seals
offline or with a certificate it fetched.

Nothing here logs; errors never quote a value, a key or a ciphertext.
"""

from __future__ import annotations

from secretloom.seal.cipher import UnsealError, seal, unseal
from secretloom.seal.document import FLAVOURS, Flavour, document, seal_values
from secretloom.seal.keys import (
    KEY_BITS,
    KeyFormatError,
    certificate_public_key,
    generate,
    load_certificate,
    load_private_key,
    matches,
)
from secretloom.seal.scope import (
    CLUSTER_WIDE_ANNOTATION,
    NAMESPACE_WIDE_ANNOTATION,
    SCOPES,
    Scope,
    label,
    scope_annotations,
)

__all__ = [
    "CLUSTER_WIDE_ANNOTATION",
    "FLAVOURS",
    "KEY_BITS",
    "NAMESPACE_WIDE_ANNOTATION",
    "SCOPES",
    "Flavour",
    "KeyFormatError",
    "Scope",
    "UnsealError",
    "certificate_public_key",
    "document",
    "generate",
    "label",
    "load_certificate",
    "load_private_key",
    "matches",
    "scope_annotations",
    "seal",
    "seal_values",
    "unseal",
]
