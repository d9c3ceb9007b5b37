"""The native decryptor against the real `sops` binary on a corpus made by it.

Each case writes a plaintext file and a `.sops.yaml`, encrypts with the real
sops, then checks that `secretloom.sops` decrypts to exactly what `sops -d`
prints: byte for byte for JSON, dotenv and binary; the same data, types and
comments for YAML (our YAML emitter is not go-yaml's). Decryption is also
checked with only the keys a case says suffice, and refused without them.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from secretloom.sops import DataKeyError, Format, decrypt, detect_format, goyaml
from secretloom.sops.tree import Branch, Comment, Value, to_plain
from tests.render.oracle import Keys, Sops

RICH_YAML = """\
# a head comment
db:
    password: s3cr3t-canary
    port: 5432
    ratio: 1.5
    "on": true
    off_switch: no
    nothing: null
    empty: ""
    octal: 0o17
    legacy_octal: 0755
    hex: 0x1F
    big: 1_000_000
    sci: 1e3
    inf: .inf
    list:
        - a
        # a list comment
        - 2
        - {inline: map}
    user_unencrypted: admin
    port_unencrypted: 8080
    when_unencrypted: 2024-05-06T07:08:09+02:00
    ok_unencrypted: true
    ratio_unencrypted: 0.25
when: 2024-01-01
stamp: 2024-01-01T10:00:00.5Z
stamp_unencrypted: 2024-01-01T10:00:00.250Z
multi: |
    line1
    line2
folded: >
    folded
    text
quoted: "yes"
unicode: "é ✓ \\u0001"
"""


@dataclass(frozen=True)
class Case:
    name: str
    filename: str
    plaintext: str
    creation_rule: dict[str, Any]
    extra: tuple[str, ...] = ()
    enough: tuple[dict[str, Any], ...] = ({"age": (0,), "pgp": False},)
    not_enough: tuple[dict[str, Any], ...] = ({"age": (), "pgp": False},)
    fmt: Format | None = None
    notes: list[str] = field(default_factory=list)


def _age(keys: Keys, *indexes: int) -> str:
    return ",".join(keys.age[i].recipient for i in indexes)


def _cases(keys: Keys) -> list[Case]:
    age0, both_age = _age(keys, 0), _age(keys, 0, 1)
    pgp = keys.pgp_fingerprint
    secret_manifest = textwrap.dedent("""\
        apiVersion: v1
        kind: Secret
        metadata:
            name: app
            labels:
                tier: backend
        stringData:
            password: s3cr3t-canary
            token: abc
        data:
            key: c2VjcmV0
        """)
    return [
        Case("yaml-age", "rich.yaml", RICH_YAML, {"age": age0}),
        Case(
            "yaml-two-age-recipients",
            "two.yaml",
            RICH_YAML,
            {"age": both_age},
            enough=({"age": (1,), "pgp": False},),
        ),
        Case(
            "yaml-pgp",
            "pgp.yaml",
            RICH_YAML,
            {"pgp": pgp},
            enough=({"age": (), "pgp": True},),
            not_enough=({"age": (0,), "pgp": False},),
        ),
        Case(
            "yaml-age-and-pgp",
            "mixed.yaml",
            RICH_YAML,
            {"age": age0, "pgp": pgp},
            enough=({"age": (0,), "pgp": False}, {"age": (), "pgp": True}),
        ),
        Case(
            "yaml-shamir-2-of-3",
            "shamir.yaml",
            RICH_YAML,
            {
                "shamir_threshold": 2,
                "key_groups": [
                    {"age": [keys.age[0].recipient]},
                    {"age": [keys.age[1].recipient]},
                    {"pgp": [pgp]},
                ],
            },
            enough=({"age": (0, 1), "pgp": False}, {"age": (1,), "pgp": True}),
            not_enough=({"age": (0,), "pgp": False}, {"age": (), "pgp": True}),
        ),
        Case(
            "yaml-multi-document",
            "multi.yaml",
            secret_manifest + "---\n" + RICH_YAML,
            {"age": age0},
        ),
        Case(
            "yaml-encrypted-regex",
            "secret.yaml",
            secret_manifest,
            {"age": age0, "encrypted_regex": "^(data|stringData)$"},
        ),
        Case(
            "yaml-unencrypted-regex",
            "unenc-re.yaml",
            secret_manifest,
            {"age": age0, "unencrypted_regex": "^(apiVersion|kind|metadata)$"},
        ),
        Case(
            "yaml-encrypted-suffix",
            "enc-suffix.yaml",
            "user: admin\npassword_secret: s3cr3t-canary\n"
            "nested_secret:\n    a: 1\n    b: [x, y]\n",
            {"age": age0, "encrypted_suffix": "_secret"},
        ),
        Case(
            "yaml-mac-only-encrypted",
            "mac-only.yaml",
            secret_manifest,
            {"age": age0, "encrypted_regex": "^stringData$", "mac_only_encrypted": True},
        ),
        Case(
            "yaml-encrypted-comment-regex",
            "enc-comment.yaml",
            "plain: visible\n# sops:enc\npassword: s3cr3t-canary\nalso_plain: 1\n"
            "nested:\n    # sops:enc\n    token: abc\n    other: def\n",
            {"age": age0, "encrypted_comment_regex": "sops:enc"},
        ),
        Case(
            "yaml-unencrypted-comment-regex",
            "unenc-comment.yaml",
            "# keep:clear\nname: app\npassword: s3cr3t-canary\n"
            "list:\n    # keep:clear\n    - clear item\n    - secret item\n",
            {"age": age0, "unencrypted_comment_regex": "keep:clear"},
        ),
        Case(
            "json",
            "config.json",
            '{"password": "s3cr3t-canary", "n": 1, "f": 2.5, "big": 1e300, "tiny": 1.5e-9, '
            '"t": true, "z": null, "list": [1, "two", {"three": [3]}], "html": "<a&b>", '
            '"empty": {}, "none": [], "port_unencrypted": 8080, "u": "é\\u2028"}',
            {"age": age0},
        ),
        Case(
            "dotenv",
            "app.env",
            "PASSWORD=s3cr3t-canary\n# a comment\nEMPTY=\nMULTI=a\\nb\n"
            'QUOTED="keep quotes"\nSPACED=  padded  \nUSER_unencrypted=admin\n',
            {"age": age0},
        ),
        Case(
            "binary",
            "blob.bin",
            "",
            {"age": age0},
            extra=("--input-type", "binary", "--output-type", "binary"),
            fmt=Format.BINARY,
        ),
    ]


def _typed(value: Any) -> Any:
    """Data with types made explicit, so 1, "1" and True are told apart.

    An integral float counts as an int: go-yaml prints float64(1000) as `1000`,
    so `sops -d` output cannot tell them apart either.
    """
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return ("int", repr(int(value)))
    return (type(value).__name__, repr(value))


def _comments(value: Value | Comment) -> list[str]:
    if isinstance(value, Comment):
        return [value.text]
    if isinstance(value, Branch):
        return [
            c for k, v in value for c in (_comments(k) if isinstance(k, Comment) else _comments(v))
        ]
    if isinstance(value, list):
        return [c for item in value for c in _comments(item)]
    return []


def _write_case(case: Case, directory: Path, keys: Keys, sops: Sops) -> Path:
    import yaml

    directory.mkdir()
    plain = directory / case.filename
    if case.fmt is Format.BINARY:
        plain.write_bytes(bytes(range(256)) * 3 + b"s3cr3t-canary")
    else:
        plain.write_text(case.plaintext)
    config = directory / ".sops.yaml"
    config.write_text(yaml.safe_dump({"creation_rules": [case.creation_rule]}))
    encrypted = directory / f"enc.{case.filename}"
    encrypted.write_bytes(sops.encrypt(plain, config, *case.extra))
    plain.unlink()
    return encrypted


@pytest.fixture(scope="module")
def corpus(
    keys: Keys, sops: Sops, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Case, Path]]:
    root = tmp_path_factory.mktemp("corpus")
    return {c.name: (c, _write_case(c, root / c.name, keys, sops)) for c in _cases(keys)}


CASE_NAMES = [
    "yaml-age", "yaml-two-age-recipients", "yaml-pgp", "yaml-age-and-pgp", "yaml-shamir-2-of-3",
    "yaml-multi-document", "yaml-encrypted-regex", "yaml-unencrypted-regex",
    "yaml-encrypted-suffix",
    "yaml-mac-only-encrypted", "yaml-encrypted-comment-regex", "yaml-unencrypted-comment-regex",
    "json", "dotenv", "binary",
]  # fmt: skip


@pytest.mark.parametrize("name", CASE_NAMES)
def test_matches_sops_decrypt(
    name: str, corpus: dict[str, tuple[Case, Path]], keys: Keys, sops: Sops
) -> None:
    case, path = corpus[name]
    fmt = case.fmt or detect_format(case.filename)
    oracle = sops.decrypt(path, *case.extra)
    assert oracle.returncode == 0, oracle.stderr.decode()
    ours = decrypt(path.read_bytes(), fmt, keys.sources(), source=path.name)
    if fmt is Format.YAML:
        expected = goyaml.load(oracle.stdout.decode())
        assert [_typed(to_plain(b)) for b in ours.branches] == [
            _typed(to_plain(b)) for b in expected
        ]
        assert [_comments(b) for b in ours.branches] == [_comments(b) for b in expected]
    else:
        assert ours.emit() == oracle.stdout


@pytest.mark.parametrize("name", CASE_NAMES)
def test_key_subsets_that_suffice_and_that_do_not(
    name: str, corpus: dict[str, tuple[Case, Path]], keys: Keys, sops: Sops
) -> None:
    case, path = corpus[name]
    fmt = case.fmt or detect_format(case.filename)
    reference = sops.decrypt(path, *case.extra).stdout
    for subset in case.enough:
        assert sops.decrypt(path, *case.extra, env=keys.env(**subset)).returncode == 0
        ours = decrypt(path.read_bytes(), fmt, keys.sources(**subset), source=path.name)
        assert ours.emit() == decrypt(path.read_bytes(), fmt, keys.sources(), source="x").emit()
        assert reference
    for subset in case.not_enough:
        assert sops.decrypt(path, *case.extra, env=keys.env(**subset)).returncode != 0
        with pytest.raises(DataKeyError) as refused:
            decrypt(path.read_bytes(), fmt, keys.sources(**subset), source=path.name)
        assert path.name in str(refused.value)
