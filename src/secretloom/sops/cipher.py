"""One SOPS value: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`.

AES-256-GCM with the data key, a 32-byte IV, and the value's key path
(`a:b:c:`) as additional data, so a ciphertext moved to another key fails
authentication. The `type` restores the Go type the value had (sops's
aes.Cipher). Errors carry no plaintext: GCM authenticates before anything
is returned.
"""

from __future__ import annotations

import base64
import binascii
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from secretloom.sops import gotext
from secretloom.sops.errors import FormatError, IntegrityError
from secretloom.sops.tree import Comment, Scalar, Timestamp

_ENCRYPTED = re.compile(r"ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")
_GO_INT = re.compile(r"[+-]?[0-9]+")
_GO_FLOAT = re.compile(
    r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(?i:inf|infinity)|(?i:nan)"
)
_GO_BOOL = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True}
_GO_BOOL |= {"0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def is_encrypted_value(text: str) -> bool:
    return _ENCRYPTED.match(text) is not None


def decrypt(text: str, key: bytes, aad: str, *, where: str) -> Scalar | Comment:
    """Decrypt one value; `where` names it in errors (a key path, never the value)."""
    if text == "":
        return ""
    match = _ENCRYPTED.match(text)
    if match is None:
        raise FormatError(f"{where}: value is not in the SOPS encrypted format")
    try:
        data, iv, tag = (base64.b64decode(part, validate=True) for part in match.groups()[:3])
    except binascii.Error:
        raise FormatError(f"{where}: encrypted value is not valid base64") from None
    if len(tag) != 16 or not iv:
        raise FormatError(f"{where}: encrypted value has a malformed iv or tag")
    try:
        plaintext = AESGCM(key).decrypt(iv, data + tag, aad.encode())
    except InvalidTag:
        raise IntegrityError(f"{where}: authentication failed (tampered or moved)") from None
    return _typed(plaintext, match.group(4), where)


def _typed(plaintext: bytes, kind: str, where: str) -> Scalar | Comment:
    text = plaintext.decode("utf-8", "surrogateescape")
    if kind in ("str", "comment", "time", "bytes"):
        if kind == "comment":
            return Comment(text)
        if kind == "time":
            return Timestamp(text)
        return plaintext if kind == "bytes" else text
    if kind in ("int", "int64") and _GO_INT.fullmatch(text):
        return int(text)
    if kind == "float" and _GO_FLOAT.fullmatch(text):
        return float(text)
    if kind == "bool" and text in _GO_BOOL:
        return _GO_BOOL[text]
    raise FormatError(f"{where}: decrypted value does not parse as its type {kind!r}")


def to_bytes(value: Scalar) -> bytes:
    """sops.ToBytes: what the MAC hashes for one value."""
    if isinstance(value, bool):
        return gotext.format_bool(value).encode()
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return gotext.format_float_f(value).encode()
    if isinstance(value, Timestamp):
        return value.text.encode()
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    raise FormatError(f"cannot hash a value of type {type(value).__name__}")
