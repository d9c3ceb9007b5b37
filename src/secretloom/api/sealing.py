"""Sealed values in secretloom's API, and where the sealing keys live (issue #13).

A sealed value is a Bitnami-compatible ciphertext (`kubeseal --raw`, or
`secretloom seal --raw`) with the scope it was sealed for. Its strict scope
binds it to `namespace/name` of the *target Secret*, which is what kubeseal's
`--namespace`/`--name` name; namespace-wide to the namespace; cluster-wide to
nothing. The scope here only says which label to try: OAEP authenticates the
label, so declaring a wider scope than the ciphertext was sealed for makes it
fail to open, never open elsewhere.

The controller keeps its RSA-4096 key pairs as `kubernetes.io/tls` Secrets in
its own namespace, labelled `KEY_LABEL` (`active` or `compromised`); Secrets
labelled with Bitnami's `BITNAMI_KEY_LABEL` in that namespace are imported
keys and open Bitnami ciphertexts unchanged. The newest key's certificate is
published in the `CERT_CONFIGMAP` ConfigMap: public, so `secretloom seal`
needs no decryption endpoint.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from secretloom.api.base import Model

DEFAULT_CONTROLLER_NAMESPACE = "secretloom-system"  # the chart's and deploy/rbac's
KEY_LABEL = "secretloom.io/sealing-key"
BITNAMI_KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
ACTIVE = "active"
COMPROMISED = "compromised"
CERT_CONFIGMAP = "secretloom-sealing-cert"
CERT_KEY = "tls.crt"
KEY_NAME_PREFIX = "secretloom-sealing-key-"
DEFAULT_RENEW_PERIOD = "720h"  # 30 days

# Base64 of one Bitnami-format ciphertext: 2 + 512 bytes of RSA-4096, the value
# and a 16-byte tag. Bounded so one entry cannot fill the object.
MAX_SEALED_CHARS = 65536
BASE64_PATTERN = r"^[A-Za-z0-9+/]*={0,2}$"


class SealedValue(Model):
    """One value sealed for the controller's certificate."""

    value: str = Field(
        min_length=4,
        max_length=MAX_SEALED_CHARS,
        pattern=BASE64_PATTERN,
        description=(
            "The ciphertext, base64 (what `kubeseal --raw` or `secretloom seal --raw` prints)."
        ),
    )
    scope: Literal["strict", "namespace-wide", "cluster-wide"] = Field(
        default="strict",
        description=(
            "The scope it was sealed for: strict (this namespace and the target Secret's name), "
            "namespace-wide (this namespace) or cluster-wide. A wider scope than the ciphertext's "
            "does not open it."
        ),
    )
