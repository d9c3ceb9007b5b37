"""Shamir secret sharing over GF(2^8), as hashicorp/vault's (and sops's) shamir.

Each share is `y_1 … y_n || x`: one polynomial per secret byte, the share's x
coordinate as its last byte. Combining is Lagrange interpolation at x = 0.
The field is the AES field (x^8 + x^4 + x^3 + x + 1); HashiCorp's log/exp
tables compute the same products, so plain carry-less multiplication is used
here. Only `combine` is needed: we never encrypt.
"""

from __future__ import annotations

from secretloom.sops.errors import DataKeyError


def _mul(a: int, b: int) -> int:
    product = 0
    while b:
        if b & 1:
            product ^= a
        a = (a << 1) ^ (0x11B if a & 0x80 else 0)
        b >>= 1
    return product


def _inverse(a: int) -> int:
    # a^254 = a^-1 in GF(2^8)
    result, power, exponent = 1, a, 254
    while exponent:
        if exponent & 1:
            result = _mul(result, power)
        power = _mul(power, power)
        exponent >>= 1
    return result


def combine(parts: list[bytes]) -> bytes:
    if len(parts) < 2:
        raise DataKeyError("Shamir: fewer than two parts cannot rebuild the data key")
    length = len(parts[0])
    if length < 2 or any(len(p) != length for p in parts):
        raise DataKeyError("Shamir: parts are malformed or of different lengths")
    xs = [p[-1] for p in parts]
    if len(set(xs)) != len(xs) or 0 in xs:
        raise DataKeyError("Shamir: duplicate or invalid parts")
    # Lagrange basis at 0: prod_{j != i} x_j / (x_i + x_j); subtraction is XOR.
    basis = []
    for i, xi in enumerate(xs):
        weight = 1
        for j, xj in enumerate(xs):
            if i != j:
                weight = _mul(weight, _mul(xj, _inverse(xi ^ xj)))
        basis.append(weight)
    secret = bytearray(length - 1)
    for index in range(length - 1):
        for part, weight in zip(parts, basis, strict=True):
            secret[index] ^= _mul(part[index], weight)
    return bytes(secret)
