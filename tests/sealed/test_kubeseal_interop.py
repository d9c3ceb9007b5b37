"""Wire compatibility with Bitnami Sealed Secrets, judged by the real kubeseal (issue #13).

Both directions, all three scopes: what `kubeseal --cert` seals for our
certificate opens with our key under the same scope label, and what we seal
opens with `kubeseal --recovery-unseal --recovery-private-key`. Keys made by
the sealed-secrets module's own key generation (whose certificates have the
quirks strict parsers reject) load, and open what kubeseal sealed for them.
"""

from __future__ import annotations

import base64
import json

import pytest

from secretloom import seal
from tests.sealed.conftest import KeyFiles, Kubeseal

NS, NAME = "team-a", "db-creds"


def kubeseal_raw(kubeseal: Kubeseal, keys: KeyFiles, scope: str, value: bytes) -> bytes:
    out = kubeseal.run(
        "--raw", "--cert", str(keys.cert_path), "--scope", scope,
        "--namespace", NS, "--name", NAME, "--from-file=/dev/stdin",
        stdin=value,
    )  # fmt: skip
    return base64.b64decode(out)


@pytest.mark.parametrize("scope", seal.SCOPES)
def test_kubeseal_raw_opens_with_our_key(
    kubeseal_bin: Kubeseal, our_keys: KeyFiles, scope: seal.Scope
) -> None:
    value = f"s3cr3t-{scope}-\u00e9\n".encode()
    ciphertext = kubeseal_raw(kubeseal_bin, our_keys, scope, value)
    key = seal.load_private_key(our_keys.private_pem)
    assert seal.unseal([key], ciphertext, seal.label(scope, NS, NAME)) == value
    for other in seal.SCOPES:
        if seal.label(other, NS, NAME) != seal.label(scope, NS, NAME):
            with pytest.raises(seal.UnsealError):
                seal.unseal([key], ciphertext, seal.label(other, NS, NAME))


def test_kubeseal_secret_object_opens_with_our_key(
    kubeseal_bin: Kubeseal, our_keys: KeyFiles
) -> None:
    values = {"username": b"admin", "password": b"\x00\xffbinary", "empty": b""}
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": NAME, "namespace": NS},
        "data": {k: base64.b64encode(v).decode() for k, v in values.items()},
    }
    out = kubeseal_bin.run(
        "--cert", str(our_keys.cert_path), "--format", "json", stdin=json.dumps(secret).encode()
    )
    sealed = json.loads(out)
    assert sealed["apiVersion"] == "bitnami.com/v1alpha1"
    key = seal.load_private_key(our_keys.private_pem)
    label = seal.label("strict", NS, NAME)
    opened = {
        k: seal.unseal([key], base64.b64decode(v), label)
        for k, v in sealed["spec"]["encryptedData"].items()
    }
    assert opened == values


@pytest.mark.parametrize("scope", seal.SCOPES)
def test_our_sealing_opens_with_kubeseal_recovery_unseal(
    kubeseal_bin: Kubeseal, our_keys: KeyFiles, scope: seal.Scope
) -> None:
    values = {"token": b"abc\ndef", "blob": bytes(range(256))}
    public = seal.certificate_public_key(our_keys.cert_pem)
    encrypted = seal.seal_values(public, values, scope=scope, namespace=NS, name=NAME)
    doc = seal.document(encrypted, scope=scope, namespace=NS, name=NAME, flavour="bitnami")
    out = kubeseal_bin.run(
        "--recovery-unseal", "--recovery-private-key", str(our_keys.key_path),
        "--format", "json", stdin=json.dumps(doc).encode(),
    )  # fmt: skip
    unsealed = json.loads(out)
    assert {k: base64.b64decode(v) for k, v in unsealed["data"].items()} == values


def test_kubeseal_refuses_our_strict_value_moved_to_another_name(
    kubeseal_bin: Kubeseal, our_keys: KeyFiles
) -> None:
    # The oracle agrees that the scope is bound by the ciphertext, not the document.
    public = seal.certificate_public_key(our_keys.cert_pem)
    encrypted = seal.seal_values(public, {"k": b"v"}, scope="strict", namespace=NS, name=NAME)
    moved = seal.document(
        encrypted, scope="cluster-wide", namespace=NS, name="other", flavour="bitnami"
    )
    done = kubeseal_bin.call(
        "--recovery-unseal", "--recovery-private-key", str(our_keys.key_path),
        stdin=json.dumps(moved).encode(),
    )  # fmt: skip
    assert done.returncode != 0


def test_bitnami_generated_keys_load_and_open_kubeseal_ciphertexts(
    kubeseal_bin: Kubeseal, bitnami_keys: KeyFiles
) -> None:
    # Its certificate has encipherOnly without keyAgreement and an empty subject.
    cert = seal.load_certificate(bitnami_keys.cert_pem)
    with pytest.raises(ValueError, match="key_agreement"):
        _ = cert.extensions  # the quirk a strict parser trips on
    key = seal.load_private_key(bitnami_keys.private_pem)
    assert key.key_size == 4096
    assert seal.matches(key, bitnami_keys.cert_pem)
    ciphertext = kubeseal_raw(kubeseal_bin, bitnami_keys, "strict", b"from-bitnami")
    assert seal.unseal([key], ciphertext, seal.label("strict", NS, NAME)) == b"from-bitnami"
