"""The hybrid cipher of Bitnami Sealed Secrets, byte for byte (issue #13).

One value is sealed as `len(rsa) (2 bytes, big-endian) || rsa || aes`, where
`rsa` is RSA-OAEP (SHA-256, MGF1-SHA-256) of a fresh 32-byte AES-256-GCM
session key with the scope as the OAEP label, and `aes` is AES-GCM of the
value under that key with an all-zero nonce (safe: the key is used once) and
no associated data. The layout was read from the upstream `pkg/crypto`; the
real `kubeseal` is the oracle in the tests, both ways.

The scope is bound only through the OAEP label, which RSA-OAEP authenticates:
opening with any other label fails. So a strict ciphertext moved to another
name or namespace cannot open, whatever annotations or templates say.

Every failure to open (short input, wrong key, wrong label, tampered bytes)
raises the same `UnsealError` with the same message, so no caller can tell
them apart and nothing built on this module is a decryption oracle
(Sealed Secrets PR #2049). The cryptography itself is the `cryptography`
package; only the framing is written here.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SESSION_KEY_BYTES = 32
_NONCE = bytes(12)  # AES-GCM's standard nonce size; the session key is single-use
_LENGTH = struct.Struct(">H")


class UnsealError(Exception):
    """A ciphertext did not open; the message is the same whatever the cause."""

    def __init__(self) -> None:
        super().__init__("no sealing key could decrypt the value for this scope")


def _oaep(label: bytes) -> padding.OAEP:
    return padding.OAEP(
        mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=label
    )


def seal(public_key: rsa.RSAPublicKey, plaintext: bytes, label: bytes) -> bytes:
    """Encrypt `plaintext` for `public_key`, bound to the scope `label`."""
    session_key = os.urandom(SESSION_KEY_BYTES)
    wrapped = public_key.encrypt(session_key, _oaep(label))
    sealed = AESGCM(session_key).encrypt(_NONCE, plaintext, None)
    return _LENGTH.pack(len(wrapped)) + wrapped + sealed


def _open_one(private_key: rsa.RSAPrivateKey, ciphertext: bytes, label: bytes) -> bytes | None:
    if len(ciphertext) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack_from(ciphertext)
    end = _LENGTH.size + size
    if len(ciphertext) < end or size != private_key.key_size // 8:
        return None
    try:
        session_key = private_key.decrypt(ciphertext[_LENGTH.size : end], _oaep(label))
        if len(session_key) != SESSION_KEY_BYTES:
            return None
        return AESGCM(session_key).decrypt(_NONCE, ciphertext[end:], None)
    except (ValueError, InvalidTag):
        return None


def unseal(private_keys: Iterable[rsa.RSAPrivateKey], ciphertext: bytes, label: bytes) -> bytes:
    """The plaintext of `ciphertext` under the first key that opens it for `label`."""
    for key in private_keys:
        opened = _open_one(key, ciphertext, label)
        if opened is not None:
            return opened
    raise UnsealError
