"""Tampered SOPS files are refused whole, as `sops -d` refuses them.

Each tampering is applied to a file the real sops encrypted; both sops and
secretloom must refuse it, secretloom with a SopsError whose text names the
file but holds no plaintext (the canary).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from secretloom.sops import FormatError, IntegrityError, SopsError, decrypt, detect_format
from tests.render.oracle import Keys, Sops

CANARY = "s3cr3t-canary-7f3a"
PLAIN = (
    f"password: {CANARY}\ntoken: tok-{CANARY}\n"
    f"user_unencrypted: admin\nnested:\n    key: {CANARY}-2\n"
)
_ENC = re.compile(r"ENC\[AES256_GCM,[^\]]+\]")


def _swap_first_two_values(text: str) -> str:
    first, second = _ENC.findall(text)[:2]
    return text.replace(first, "\0").replace(second, first).replace("\0", second)


def _flip_a_ciphertext_byte(text: str) -> str:
    value = _ENC.search(text)
    assert value is not None
    data = re.search(r"data:([^,]+)", value.group()).group(1)  # type: ignore[union-attr]
    flipped = ("B" if data[0] != "B" else "C") + data[1:]
    return text.replace(data, flipped, 1)


TAMPERINGS: dict[str, tuple[Callable[[str], str], type[SopsError]]] = {
    "swap-two-values": (_swap_first_two_values, IntegrityError),
    "flip-ciphertext": (_flip_a_ciphertext_byte, IntegrityError),
    "edit-unencrypted-value": (
        lambda t: t.replace("user_unencrypted: admin", "user_unencrypted: root"),
        IntegrityError,
    ),
    "delete-a-key": (lambda t: re.sub(r"(?m)^token: .*\n", "", t), IntegrityError),
    "rename-a-key": (lambda t: t.replace("token:", "tokens:", 1), IntegrityError),
    "change-lastmodified": (
        lambda t: re.sub(r'lastmodified: "\d{4}', 'lastmodified: "1999', t),
        IntegrityError,
    ),
    "plaintext-where-encrypted": (
        lambda t: re.sub(r"(?m)^token: .*$", "token: injected", t),
        FormatError,
    ),
    "drop-the-mac": (lambda t: re.sub(r"(?m)^    mac: .*\n", "", t), FormatError),
}


@pytest.fixture(scope="module")
def encrypted(sops: Sops, tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> str:
    directory = tmp_path_factory.mktemp("tamper")
    plain = directory / "secrets.yaml"
    plain.write_text(PLAIN)
    config = directory / ".sops.yaml"
    config.write_text(f"creation_rules:\n  - age: {keys.age[0].recipient}\n")
    return sops.encrypt(plain, config).decode()


def test_untampered_file_decrypts(encrypted: str, keys: Keys) -> None:
    assert (
        decrypt(encrypted.encode(), detect_format("x.yaml"), keys.sources()).data()["password"]
        == CANARY
    )


@pytest.mark.parametrize("name", sorted(TAMPERINGS))
def test_tampered_file_is_refused_like_sops_does(
    name: str, encrypted: str, keys: Keys, sops: Sops, tmp_path: Path
) -> None:
    tamper, error = TAMPERINGS[name]
    tampered = tamper(encrypted)
    assert tampered != encrypted
    path = tmp_path / "secrets.yaml"
    path.write_text(tampered)
    oracle = sops.decrypt(path)
    assert oracle.returncode != 0
    assert CANARY.encode() not in oracle.stdout
    with pytest.raises(error) as refused:
        decrypt(tampered.encode(), detect_format(path), keys.sources(), source="secrets.yaml")
    assert "secrets.yaml" in str(refused.value)
    assert CANARY not in str(refused.value)
    assert CANARY not in repr(refused.value)
