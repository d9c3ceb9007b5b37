"""The sealing cipher on its own: scope binding and uniform refusals (issue #13).

The wire format against the real kubeseal is in tests/sealed; here, what
must be refused is refused the same way, and no refusal quotes anything.
"""

from __future__ import annotations

import functools

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from secretloom import seal

CANARY = b"canary-7f3a-never-printed"


@functools.cache
def keypair() -> tuple[rsa.RSAPrivateKey, bytes]:
    private_pem, cert_pem = seal.generate(bits=2048)
    return seal.load_private_key(private_pem), cert_pem


def sealed_strict() -> bytes:
    _key, cert = keypair()
    return seal.seal(seal.certificate_public_key(cert), CANARY, seal.label("strict", "ns", "a"))


def test_round_trip_in_every_scope() -> None:
    key, cert = keypair()
    public = seal.certificate_public_key(cert)
    for scope in seal.SCOPES:
        bound = seal.label(scope, "ns", "a")
        assert seal.unseal([key], seal.seal(public, CANARY, bound), bound) == CANARY


def test_labels() -> None:
    assert seal.label("strict", "ns", "a") == b"ns/a"
    assert seal.label("namespace-wide", "ns", "a") == b"ns"
    assert seal.label("cluster-wide", "ns", "a") == b""


def _refusal(ciphertext: bytes, bound: bytes, keys: list[rsa.RSAPrivateKey] | None = None) -> str:
    with pytest.raises(seal.UnsealError) as caught:
        seal.unseal(keys if keys is not None else [keypair()[0]], ciphertext, bound)
    return str(caught.value)


def test_every_refusal_is_the_same_and_quotes_nothing() -> None:
    good = sealed_strict()
    other_key = seal.load_private_key(seal.generate(bits=2048)[0])
    flipped_rsa = bytearray(good)
    flipped_rsa[10] ^= 1
    flipped_aes = bytearray(good)
    flipped_aes[-1] ^= 1
    messages = {
        _refusal(good, b"ns/b"),  # moved to another name
        _refusal(good, b"other/a"),  # another namespace
        _refusal(good, b"ns"),  # scope widened to the namespace
        _refusal(good, b""),  # scope widened to the cluster
        _refusal(bytes(flipped_rsa), b"ns/a"),
        _refusal(bytes(flipped_aes), b"ns/a"),
        _refusal(good[:-17], b"ns/a"),
        _refusal(good[:200], b"ns/a"),
        _refusal(b"", b"ns/a"),
        _refusal(b"\x02\x00", b"ns/a"),
        _refusal(good, b"ns/a", [other_key]),
        _refusal(good, b"ns/a", []),
    }
    assert len(messages) == 1
    (message,) = messages
    assert CANARY.decode() not in message


def test_old_keys_still_open() -> None:
    old, _cert = keypair()
    new = seal.load_private_key(seal.generate(bits=2048)[0])
    assert seal.unseal([new, old], sealed_strict(), b"ns/a") == CANARY


def test_bad_key_material_is_named_not_quoted() -> None:
    with pytest.raises(seal.KeyFormatError, match="not an unencrypted PEM private key") as caught:
        seal.load_private_key(
            b"-----BEGIN RSA PRIVATE KEY-----\nQUJD\n-----END RSA PRIVATE KEY-----\n"
        )
    assert "QUJD" not in str(caught.value)
    with pytest.raises(seal.KeyFormatError, match="not a PEM certificate"):
        seal.certificate_public_key(b"garbage")
