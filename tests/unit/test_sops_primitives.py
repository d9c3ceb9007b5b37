"""Pure pieces of the SOPS decryptor: Shamir, Go renderings, go-yaml scalars, rules."""

from __future__ import annotations

import base64
import itertools
import math
import re
import secrets
import time

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from secretloom.sops import DataKeyError, FormatError, cipher, gotext, goyaml, shamir
from secretloom.sops.metadata import Rules
from secretloom.sops.tree import Branch, Comment, Timestamp, to_plain
from secretloom.sops.walk import should_encrypt


def _mul(a: int, b: int) -> int:
    out = 0
    for bit in range(8):
        if b >> bit & 1:
            out ^= a << bit
    for bit in range(14, 7, -1):
        if out >> bit & 1:
            out ^= 0x11B << (bit - 8)
    return out


def _split(secret: bytes, parts: int, threshold: int) -> list[bytes]:
    """Shamir split as hashicorp's: random polynomial per byte, x as the last byte."""
    xs = secrets.SystemRandom().sample(range(1, 256), parts)
    shares = [bytearray() for _ in xs]
    for byte in secret:
        coefficients = [byte, *(secrets.randbelow(256) for _ in range(threshold - 1))]
        for share, x in zip(shares, xs, strict=True):
            y = 0
            for c in reversed(coefficients):
                y = _mul(y, x) ^ c
            share.append(y)
    return [bytes(s) + bytes([x]) for s, x in zip(shares, xs, strict=True)]


@pytest.mark.parametrize(("parts", "threshold"), [(2, 2), (3, 2), (5, 3)])
def test_shamir_any_threshold_subset_rebuilds_the_key(parts: int, threshold: int) -> None:
    key = secrets.token_bytes(32)
    shares = _split(key, parts, threshold)
    for subset in itertools.combinations(shares, threshold):
        assert shamir.combine(list(subset)) == key
    assert (
        shamir.combine(shares[: threshold - 1] + shares[:1][:0]) != key if threshold > 2 else True
    )


def test_shamir_refuses_malformed_parts() -> None:
    with pytest.raises(DataKeyError):
        shamir.combine([b"ab\x01"])
    with pytest.raises(DataKeyError):
        shamir.combine([b"ab\x01", b"ab\x01"])
    with pytest.raises(DataKeyError):
        shamir.combine([b"ab\x01", b"abc\x02"])


@pytest.mark.parametrize(
    ("value", "f_form", "json_form"),
    [
        (1.0, "1", "1"),
        (1.5, "1.5", "1.5"),
        (1e21, "1000000000000000000000", "1e+21"),
        (1.5e-7, "0.00000015", "1.5e-7"),
        (-2.25, "-2.25", "-2.25"),
        (12345678901234567890.0, "12345678901234567000", "12345678901234567000"),
        (math.inf, "+Inf", None),
    ],
)
def test_go_float_renderings(value: float, f_form: str, json_form: str | None) -> None:
    assert gotext.format_float_f(value) == f_form
    if json_form is not None:
        assert gotext.json_float(value) == json_form


def test_go_json_string_escapes_html_and_controls() -> None:
    assert (
        gotext.json_string('é<>&"\\\n\x01\u2028')
        == '"é\\u003c\\u003e\\u0026\\"\\\\\\n\\u0001\\u2028"'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01", "2024-01-01T00:00:00Z"),
        ("2024-1-2T3:04:05Z", "2024-01-02T03:04:05Z"),
        ("2024-01-01T10:00:00.500+02:00", "2024-01-01T10:00:00.5+02:00"),
        ("2024-01-01 10:00:00", "2024-01-01T10:00:00Z"),
        ("2024-13-01", None),
        ("2024-01-01T10:00:00", None),  # a "T" needs a zone in go-yaml's layouts
    ],
)
def test_go_yaml_timestamps(text: str, expected: str | None) -> None:
    parsed = gotext.parse_time(text)
    assert (gotext.format_rfc3339(*parsed) if parsed else None) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", "yes"), ("on", "on"), ("True", True), ("FALSE", False), ("~", None), ("", None),
        ("0777", 511), ("0o17", 15), ("0x1F", 31), ("0b101", 5), ("1_000", 1000), ("-12", -12),
        ("09", 9.0), ("1e3", 1000.0), (".5", 0.5), (".inf", math.inf), ("1.2.3", "1.2.3"),
        ("2024-01-01", Timestamp("2024-01-01T00:00:00Z")),
        ("18446744073709551616", 1.8446744073709552e19),
    ],
)  # fmt: skip
def test_go_yaml_plain_scalar_resolution(text: str, expected: object) -> None:
    resolved = goyaml.resolve_plain(text)
    assert resolved == expected and type(resolved) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1" * 10_000, "1" * 10_000),  # int() of it raised Python's 4,300-digit ValueError
        ("1e400", "1e400"),  # ParseFloat overflows: go-yaml keeps the text (sops -d agrees)
        ("1e-400", 0.0),  # underflow is a zero, not an error
        ("2001-01-01T00:00:00+99:00", "2001-01-01T00:00:00+99:00"),  # timezone() raised
        (
            "\u0662\u0660\u0662\u0664-01-01",
            "\u0662\u0660\u0662\u0664-01-01",
        ),  # Go's digits are ASCII
    ],
)
def test_go_yaml_out_of_range_scalars_are_text_as_go_yaml_reads_them(
    text: str, expected: object
) -> None:
    resolved = goyaml.resolve_plain(text)
    assert resolved == expected and type(resolved) is type(expected)


def _sealed(plaintext: str, kind: str, key: bytes) -> str:
    """A value as sops writes it, for key path `n`."""
    iv = secrets.token_bytes(32)
    sealed = AESGCM(key).encrypt(iv, plaintext.encode(), b"n:")
    data, tag = base64.b64encode(sealed[:-16]).decode(), base64.b64encode(sealed[-16:]).decode()
    return f"ENC[AES256_GCM,data:{data},iv:{base64.b64encode(iv).decode()},tag:{tag},type:{kind}]"


@pytest.mark.parametrize(
    ("plaintext", "kind"),
    [
        ("1" * 10_000, "int"),  # int() raised Python's 4,300-digit ValueError
        ("9223372036854775808", "int"),  # strconv.Atoi: out of int64
        ("1e400", "float"),  # strconv.ParseFloat: overflow
        ("1" * 50_000 + "x", "float"),  # `[0-9]+\\.?[0-9]*` backtracked for minutes
    ],
)
def test_decrypted_numbers_out_of_go_range_are_one_line_format_errors(
    plaintext: str, kind: str
) -> None:
    key = secrets.token_bytes(32)
    started = time.monotonic()
    with pytest.raises(
        FormatError, match=f"^f: n: decrypted value does not parse as its type '{kind}'$"
    ):
        cipher.decrypt(_sealed(plaintext, kind, key), key, "n:", where="f: n")
    assert time.monotonic() - started < 1


def test_a_crafted_encrypted_value_is_refused_without_backtracking() -> None:
    """With `(.+)` for every field, 3 KiB of this took 9 s to refuse, 30 KiB hours (ReDoS)."""
    started = time.monotonic()
    with pytest.raises(FormatError, match="not in the SOPS encrypted format"):
        cipher.decrypt(
            "ENC[AES256_GCM,data:" + ",iv:,tag:,type:" * 2_000, bytes(32), "k:", where="k"
        )
    assert time.monotonic() - started < 1


def test_yaml_comments_attach_to_the_next_key_at_their_indentation() -> None:
    (branch,) = goyaml.load("# head\na:\n    # inner\n    b: 1\n    # foot of a\nc: 2\n")
    assert branch.items[0] == (Comment(" head"), None)
    nested = branch.items[1][1]
    assert isinstance(nested, Branch) and to_plain(nested) == {"b": 1}
    assert [k for k, _ in nested] == [Comment(" inner"), "b"]
    assert [k for k, _ in branch] == [Comment(" head"), "a", "c"]


def test_yaml_quoted_scalars_stay_strings_and_keys_must_be_strings() -> None:
    (branch,) = goyaml.load("a: '1'\nb: \"true\"\n")
    assert to_plain(branch) == {"a": "1", "b": "true"}
    with pytest.raises(FormatError, match="only string keys"):
        goyaml.load("1: a\n")


def _rules(**kw: object) -> Rules:
    compiled = {k: re.compile(v) if k.endswith("regex") else v for k, v in kw.items()}
    return Rules(**compiled)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rules", "path", "comments", "expected"),
    [
        (_rules(unencrypted_suffix="_unencrypted"), ["a", "b_unencrypted", "c"], [], False),
        (_rules(unencrypted_suffix="_unencrypted"), ["a"], [], True),
        (_rules(encrypted_suffix="_secret"), ["x_secret", "y"], [], True),
        (_rules(encrypted_suffix="_secret"), ["x"], [], False),
        (_rules(encrypted_regex="^data$"), ["data", "k"], [], True),
        (_rules(encrypted_regex="^data$"), ["metadata", "k"], [], False),
        (_rules(unencrypted_regex="^meta"), ["metadata"], [], False),
        (_rules(encrypted_comment_regex="enc"), ["k"], [["enc"]], True),
        (_rules(encrypted_comment_regex="enc"), ["k"], [[], ["other"]], False),
        (_rules(unencrypted_comment_regex="clear"), ["k"], [["clear"]], False),
    ],
)
def test_should_encrypt_follows_sops_rules(
    rules: Rules, path: list[str], comments: list[list[str]], expected: bool
) -> None:
    assert should_encrypt(rules, path, comments, is_comment=False) is expected


def test_the_comment_matching_encrypted_comment_regex_stays_clear() -> None:
    rules = _rules(encrypted_comment_regex="sops:enc")
    assert not should_encrypt(rules, [], [["sops:enc"]], is_comment=True)
    assert should_encrypt(rules, [], [["sops:enc", "next comment"]], is_comment=True)
