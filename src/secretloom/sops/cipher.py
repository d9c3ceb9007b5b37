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
import math
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from secretloom.sops import gotext
from secretloom.sops.errors import FormatError, IntegrityError
from secretloom.sops.tree import Comment, Scalar, Timestamp

# sops's own patterns, made unambiguous: with `(.+)` for every field (or
# `[0-9]+\.?[0-9]*`) a crafted value of a few KiB backtracks for seconds to
# hours; base64 holds no comma, so the language is the same for real values.
_ENCRYPTED = re.compile(r"ENC\[AES256_GCM,data:([^,]+),iv:([^,]+),tag:([^,]+),type:(.+)\]")
_GO_INT = re.compile(r"[+-]?[0-9]+")
_GO_FLOAT = re.compile(
    r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(?i:inf|infinity)|(?i:nan)"
)
_GO_INT_RANGE = (-(2**63), 2**63 - 1)  # strconv.Atoi on 64-bit
_MAX_INT_TEXT = 20  # "-9223372036854775808"; longer text is out of range (see `limits`)
ENCRYPTED_MARKER = "ENC[AES256_GCM,"
_GO_BOOL = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True}
_GO_BOOL |= {"0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def holds_encrypted_values(text: str | bytes) -> bool:
    """Whether `text` contains a SOPS-encrypted value anywhere (a cheap substring scan)."""
    if isinstance(text, bytes):
        return ENCRYPTED_MARKER.encode() in text
    return ENCRYPTED_MARKER in text


DATA_KEY_SIZES = (16, 24, 32)  # what AES takes; sops makes 32-byte data keys


def decrypt(text: str, key: bytes, aad: str, *, where: str) -> Scalar | Comment:
    """Decrypt one value (`key` of DATA_KEY_SIZES); `where` names it in errors, never the value."""
    if text == "":
        return ""
    match = _ENCRYPTED.match(text)
    if match is None:
        raise FormatError(f"{where}: value is not in the SOPS encrypted format")
    try:
        data, iv, tag = (base64.b64decode(part, validate=True) for part in match.groups()[:3])
    except binascii.Error:
        raise FormatError(f"{where}: encrypted value is not valid base64") from None
    if len(tag) != 16 or not 8 <= len(iv) <= 128:  # sops writes 32; AESGCM takes 8 to 128
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
    if kind in ("int", "int64") and len(text) <= _MAX_INT_TEXT and _GO_INT.fullmatch(text):
        number = int(text)
        if _GO_INT_RANGE[0] <= number <= _GO_INT_RANGE[1]:
            return number
    if kind == "float" and _GO_FLOAT.fullmatch(text):
        number_f = float(text)
        # ParseFloat fails on overflow (Python gives inf) but reads "inf" itself.
        if not math.isinf(number_f) or text.lstrip("+-").lower().startswith("inf"):
            return number_f
    if kind == "bool" and text in _GO_BOOL:
        return _GO_BOOL[text]
    raise FormatError(f"{where}: decrypted value does not parse as its type {kind[:16]!r}")


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
