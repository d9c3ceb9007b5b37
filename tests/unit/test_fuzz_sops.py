"""Property-based fuzzing of the SOPS parser: files, metadata, tree walk, emitters.

Any input gives a value or a one-line `SopsError`, within a second (see
`tests/unit/fuzzing.py`). Inputs are built from fragments of the formats
(YAML indicators, anchors and aliases, `ENC[...]` pieces, dotenv metadata
keys, go-yaml's scalar forms) so that examples reach past the first syntax
error, and from real files `sops` encrypted (`fuzz_samples/`), mutated, so
that the data key, the walk and the MAC are reached too.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import example, given
from hypothesis import strategies as st

from secretloom.sops import KeySources, SopsError, decrypt, emit, metadata, stores, walk
from secretloom.sops.stores import Format
from secretloom.sops.tree import Branch, Comment, Timestamp, Value
from tests.unit.fuzzing import fuzz, one_line_or_value

SAMPLES = Path(__file__).parent / "fuzz_samples"
KEYS = KeySources.from_env({"SOPS_AGE_KEY_FILE": str(SAMPLES / "age-identity.txt")})
ENCRYPTED = {
    Format.YAML: (SAMPLES / "secrets.enc.yaml").read_bytes(),
    Format.JSON: (SAMPLES / "secrets.enc.json").read_bytes(),
    Format.DOTENV: (SAMPLES / "secrets.enc.env").read_bytes(),
}
DATA_KEY = os.urandom(32)

YAML_FRAGMENTS = [
    "sops:", "\n", "    ", "  ", "- ", ": ", "k", "&a ", "*a", "&b ", "*b", "[", "]", "{", "}",
    ", ", "'", '"', "#", "---\n", "...\n", "? ", "<<: ", "~", "null", ".inf", "-.INF", ".nan",
    "0x1F", "0o17", "0b101", "017", "1_000", "-0", "1e400", "1e-400", "9" * 25, "1" * 5000,
    "2001-01-01", "2001-01-01T00:00:00Z", "2001-12-14 21:59:43.10", "2001-01-01T00:00:00+99:00",
    "!!binary ", "!!int ", "!!float ", "!!str ", "!!bool ", "!!null ", "!!timestamp ", "!x ",
    "|\n", ">-\n", "\t", "\r", "\ufeff", "\x00", "\udc80", "yes", "True", "ENC[AES256_GCM,data:",
    ",iv:", ",tag:", ",type:", "str]", "int]", "mac", "lastmodified", "age", "enc", "version",
]  # fmt: skip
JSON_FRAGMENTS = [
    "{", "}", "[", "]", '"', '"sops"', '"k"', ":", ",", " ", "\n", "1", "-0", "1e400", "1.5",
    "9" * 5000, "true", "null", "NaN", "Infinity", '"data"', "\\u0000", "\\", '"ENC[AES256_GCM,',
]  # fmt: skip
DOTENV_FRAGMENTS = [
    "sops_", "age", "pgp", "__list_", "__map_", "key_groups", "0", "1", "99999999999", "x",
    "\u00b2", "enc", "recipient", "mac", "lastmodified", "shamir_threshold", "=", "\n", "#",
    "\\n", "ENC[AES256_GCM,data:", "2024-01-01T00:00:00Z", "encrypted_regex", "(a+)+$",
]  # fmt: skip


def texts(fragments: list[str]) -> st.SearchStrategy[str]:
    """Strings made of format fragments and arbitrary characters, so examples parse deep."""
    piece = st.sampled_from(fragments) | st.text(max_size=8)
    return st.lists(piece, max_size=60).map("".join)


def mutated(original: bytes) -> st.SearchStrategy[bytes]:
    """`original` with a slice replaced by fragments or random bytes."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        start = draw(st.integers(0, len(original)))
        end = draw(st.integers(start, min(len(original), start + 64)))
        filler = draw(texts(YAML_FRAGMENTS + JSON_FRAGMENTS + DOTENV_FRAGMENTS))
        raw = (
            filler.encode("utf-8", "surrogateescape") if draw(st.booleans()) else draw(st.binary())
        )
        return original[:start] + raw + original[end:]

    return build()


@fuzz
@given(st.sampled_from(list(Format)), texts(YAML_FRAGMENTS + JSON_FRAGMENTS + DOTENV_FRAGMENTS))
def test_any_file_loads_or_fails_in_one_line(fmt: Format, text: str) -> None:
    data = text.encode("utf-8", "surrogateescape")
    one_line_or_value(lambda: stores.load(data, fmt), SopsError)
    one_line_or_value(lambda: decrypt(data, fmt, KEYS, source="f"), SopsError)


@fuzz
@given(texts(YAML_FRAGMENTS))
def test_any_yaml_loads_or_fails_in_one_line(text: str) -> None:
    one_line_or_value(
        lambda: stores.load(text.encode("utf-8", "surrogateescape"), Format.YAML), SopsError
    )


# Explicit examples: inputs that broke the code before (each one fails it).
@fuzz
@example("sops_age__list_99999999999__map_enc=x\n")  # MemoryError
@example("sops_age=x\nsops_age__list_0__map_enc=x\n")  # AttributeError
@example("sops_age__list_x__map_enc=x\n")  # ValueError
@given(texts(DOTENV_FRAGMENTS))
def test_any_dotenv_and_its_metadata_load_or_fail_in_one_line(text: str) -> None:
    loaded = one_line_or_value(
        lambda: stores.load(text.encode("utf-8", "surrogateescape"), Format.DOTENV), SopsError
    )
    if loaded is not None:
        one_line_or_value(lambda: metadata.parse(loaded.metadata), SopsError)


@fuzz
@example((Format.YAML, ENCRYPTED[Format.YAML].replace(b"user: admin", b"user: " + b"1" * 5_000)))
@example((Format.JSON, ENCRYPTED[Format.JSON].replace(b'"user"', b'"a": ' + b"[" * 5_000)))
@given(
    st.sampled_from(sorted(ENCRYPTED)).flatmap(
        lambda f: st.tuples(st.just(f), mutated(ENCRYPTED[f]))
    )
)
def test_a_mutated_encrypted_file_decrypts_or_fails_in_one_line(case: tuple[Format, bytes]) -> None:
    fmt, data = case
    decrypted = one_line_or_value(lambda: decrypt(data, fmt, KEYS, source="f"), SopsError)
    if decrypted is not None:
        one_line_or_value(decrypted.emit, SopsError)
    if data == ENCRYPTED[fmt]:  # a mutation that changed nothing: the seeds are valid
        assert decrypted is not None and decrypted.data()["pw"] == "s3cret"


def test_names_from_the_file_stay_on_one_line_in_errors() -> None:
    """Found by the long profile: a recipient holding a newline split the DataKeyError."""
    data = ENCRYPTED[Format.JSON].replace(b'"recipient": "age1', b'"recipient": "x\\nage1')
    assert data != ENCRYPTED[Format.JSON]
    no_keys = KeySources()
    assert (
        one_line_or_value(lambda: decrypt(data, Format.JSON, no_keys, source="a\nb"), SopsError)
        is None
    )


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
METADATA_KEYS = [
    "age", "pgp", "kms", "key_groups", "shamir_threshold", "lastmodified", "mac", "version",
    "unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex",
    "unencrypted_comment_regex", "encrypted_comment_regex", "mac_only_encrypted", "recipient",
    "enc",
]  # fmt: skip


@fuzz
@given(
    st.dictionaries(st.sampled_from(METADATA_KEYS) | st.text(max_size=8), JSON_VALUES, max_size=8)
)
def test_any_metadata_parses_or_fails_in_one_line(raw: dict[str, Any]) -> None:
    one_line_or_value(lambda: metadata.parse(raw), SopsError)


def encrypted(value: str, kind: str, aad: str) -> str:
    """A value as sops writes it, under DATA_KEY (or not: the fuzzer mixes both)."""
    iv = os.urandom(32)
    sealed = AESGCM(DATA_KEY).encrypt(iv, value.encode("utf-8", "surrogateescape"), aad.encode())
    data, tag = (base64.b64encode(part).decode() for part in (sealed[:-16], sealed[-16:]))
    return f"ENC[AES256_GCM,data:{data},iv:{base64.b64encode(iv).decode()},tag:{tag},type:{kind}]"


KINDS = ["str", "int", "int64", "float", "bool", "time", "bytes", "comment", "x"]
PLAINTEXTS = st.sampled_from(
    ["1" * 10_000, "1e400", "-9223372036854775809", "inf", "0x10", "t"]
) | st.text(max_size=20)
SCALARS: st.SearchStrategy[Value] = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    | st.binary(max_size=8) | st.builds(Timestamp, st.text(max_size=20))
    | st.builds(encrypted, PLAINTEXTS, st.sampled_from(KINDS), st.sampled_from(["k:", "", "a:k:"]))
)  # fmt: skip
KEYS_OF_TREES = st.sampled_from(["k", "a", "pw_unencrypted", "sops"]) | st.text(max_size=6)


def trees() -> st.SearchStrategy[Branch]:
    def branch(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Branch]:
        items = st.tuples(KEYS_OF_TREES | st.builds(Comment, st.text(max_size=8)), values)
        return st.lists(items, max_size=4).map(Branch)

    values = st.recursive(
        SCALARS,
        lambda inner: (
            branch(inner) | st.lists(inner | st.builds(Comment, st.text(max_size=8)), max_size=4)
        ),
        max_leaves=12,
    )
    return branch(values)


RULES = st.fixed_dictionaries(
    {
        "mac": st.just(encrypted("0" * 128, "str", "2024-01-01T00:00:00Z")),
        "lastmodified": st.just("2024-01-01T00:00:00Z"),
    },
    optional={
        "unencrypted_suffix": st.sampled_from(["_unencrypted", "", "k"]),
        "encrypted_regex": st.sampled_from(["^k$", "a", "("]),
        "unencrypted_comment_regex": st.sampled_from(["clear", "["]),
        "encrypted_comment_regex": st.sampled_from(["secret", ""]),
        "mac_only_encrypted": st.sampled_from(["true", True, "no"]),
    },
).map(lambda r: {**r, "age": [{"recipient": "age1x", "enc": "x"}]})


@fuzz
@example(
    [Branch([("a\nb", "clear")])], {"mac": "x", "lastmodified": "2024-01-01T00:00:00Z", "age": [{}]}
)
@given(st.lists(trees(), min_size=1, max_size=2), RULES)
def test_the_tree_walk_decrypts_or_fails_in_one_line(
    branches: list[Branch], raw: dict[str, Any]
) -> None:
    meta = one_line_or_value(lambda: metadata.parse(raw), SopsError)
    if meta is not None:
        one_line_or_value(
            lambda: walk.decrypt_branches(branches, meta, DATA_KEY, source="f"), SopsError
        )


@fuzz
@example(Format.DOTENV, [Branch([("a\nb", Branch())])])  # the key split the error's line
@given(st.sampled_from(list(Format)), st.lists(trees(), min_size=1, max_size=2))
def test_the_emitters_print_or_fail_in_one_line(fmt: Format, branches: list[Branch]) -> None:
    printed = one_line_or_value(lambda: emit.emit(branches, fmt), SopsError)
    assert printed is None or isinstance(printed, bytes)


def test_a_value_encrypted_as_a_comment_is_refused_in_one_line() -> None:
    # Found by the long fuzzing profile: it failed an assertion instead.
    raw = {
        "mac": "x",
        "lastmodified": "2024-01-01T00:00:00Z",
        "age": [{"recipient": "r", "enc": "x"}],
    }
    branches = [Branch([("k", encrypted("hidden", "comment", "k:"))])]
    with pytest.raises(SopsError, match=r"^f: k: a value is encrypted as a comment$"):
        walk.decrypt_branches(branches, metadata.parse(raw), DATA_KEY, source="f")
