"""SOPS files keyed with AWS KMS: the real sops encrypts against moto's KMS, we decrypt.

Issue 16: a file whose data key is protected by KMS (alone, or as one key group
next to age) decrypts with `secretloom sops decrypt` exactly as `sops -d`
does, with the same environment (AWS credentials, `AWS_ENDPOINT_URL` at the
emulator); a wrong encryption context or an unreachable KMS is one line naming
the key ARN, never a value.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from secretloom.testing.moto import ACCESS_KEY, REGION, SECRET_KEY, MotoServer
from secretloom.testing.tools import tool
from tests.aws.conftest import moto, moto_session
from tests.render.oracle import Keys

pytestmark = pytest.mark.moto

__all__ = ["moto", "moto_session"]

SECLOOM = Path(sys.executable).parent / "secretloom"
PLAIN = "password: kms-canary-7f3a\nnested:\n    port: 5432\n    tls: true\n"


@pytest.fixture
def kms_key(moto: MotoServer) -> str:
    return str(moto.client("kms").create_key()["KeyMetadata"]["Arn"])


def aws_env(keys: Keys, server: MotoServer, **extra: str) -> dict[str, str]:
    return {
        **keys.env(),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": server.address,
        **extra,
    }


def run(args: list[str | Path], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(a) for a in args], env=env, capture_output=True, check=False, timeout=120
    )


def encrypted(tmp_path: Path, env: dict[str, str], config: dict[str, Any]) -> Path:
    (tmp_path / ".sops.yaml").write_text(yaml.safe_dump(config))
    plain = tmp_path / "secrets.yaml"
    plain.write_text(PLAIN)
    done = run([tool("sops"), "--config", tmp_path / ".sops.yaml", "encrypt", "-i", plain], env)
    assert done.returncode == 0, done.stderr.decode()
    return plain


def test_a_kms_file_decrypts_exactly_as_sops_does(
    tmp_path: Path, keys: Keys, moto: MotoServer, kms_key: str
) -> None:
    env = aws_env(keys, moto)
    rule = {"kms": kms_key, "aws_profile": ""}
    path = encrypted(tmp_path, env, {"creation_rules": [rule]})
    assert "kms-canary" not in path.read_text()
    oracle = run([tool("sops"), "decrypt", path], env)
    ours = run([SECLOOM, "sops", "decrypt", path], env)
    assert oracle.returncode == 0, oracle.stderr.decode()
    assert ours.returncode == 0, ours.stderr.decode()
    assert ours.stdout == oracle.stdout
    assert b"kms-canary-7f3a" in ours.stdout
    assert moto.calls("Decrypt") >= 2  # both went to the emulator's KMS


def test_kms_next_to_age_in_key_groups_needs_both_shares(
    tmp_path: Path, keys: Keys, moto: MotoServer, kms_key: str
) -> None:
    env = aws_env(keys, moto)
    groups = [{"kms": [{"arn": kms_key}]}, {"age": [keys.age[0].recipient]}]
    rule = {"key_groups": groups, "shamir_threshold": 2}
    path = encrypted(tmp_path, env, {"creation_rules": [rule]})
    oracle = run([tool("sops"), "decrypt", path], env)
    ours = run([SECLOOM, "sops", "decrypt", path], env)
    assert ours.returncode == 0, ours.stderr.decode()
    assert ours.stdout == oracle.stdout

    no_kms = aws_env(keys, moto, AWS_ENDPOINT_URL="http://127.0.0.1:9")  # nothing listens
    failed = run([SECLOOM, "sops", "decrypt", path], no_kms)
    assert failed.returncode != 0 and failed.stdout == b""
    message = failed.stderr.decode()
    assert message.count("\n") == 1 and kms_key in message and "1 of 2" in message
    assert "kms-canary" not in message


def test_a_wrong_encryption_context_is_refused_by_kms(
    tmp_path: Path, keys: Keys, moto: MotoServer, kms_key: str
) -> None:
    env = aws_env(keys, moto)
    group = {"kms": [{"arn": kms_key, "context": {"app": "demo"}}]}
    path = encrypted(tmp_path, env, {"creation_rules": [{"key_groups": [group]}]})
    assert "app: demo" in path.read_text()
    ours = run([SECLOOM, "sops", "decrypt", path], env)
    assert ours.returncode == 0, ours.stderr.decode()
    path.write_text(path.read_text().replace("app: demo", "app: other"))
    tampered = run([SECLOOM, "sops", "decrypt", path], env)
    assert tampered.returncode != 0 and tampered.stdout == b""
    message = tampered.stderr.decode()
    assert f"kms {kms_key}: KMS Decrypt failed (" in message and "kms-canary" not in message
