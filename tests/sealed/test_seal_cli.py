"""`secretloom seal` as a user runs it: output kubeseal opens, errors in one line (issue #13)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import yaml

from secretloom import seal
from tests.sealed.conftest import KeyFiles, Kubeseal

SECRETLOOM = str(Path(sys.executable).parent / "secretloom")


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [SECRETLOOM, "seal", *args], input=stdin, capture_output=True, check=False, timeout=60
    )


def test_bitnami_output_opens_with_kubeseal_recovery_unseal(
    kubeseal_bin: Kubeseal, our_keys: KeyFiles, tmp_path: Path
) -> None:
    (tmp_path / "cfg").write_bytes(b"line1\nline2\n")
    done = run(
        "--cert", str(our_keys.cert_path), "--namespace", "argocd",
        "--name", "argocd-notifications-secret", "--scope", "namespace-wide",
        "--from-literal", "slack-token=xoxb-123", "--from-file", f"cfg={tmp_path / 'cfg'}",
        "--format", "bitnami",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert b"xoxb-123" not in done.stdout
    doc = yaml.safe_load(done.stdout)
    assert doc["metadata"]["annotations"] == {seal.NAMESPACE_WIDE_ANNOTATION: "true"}
    out = kubeseal_bin.run(
        "--recovery-unseal", "--recovery-private-key", str(our_keys.key_path),
        "--format", "json", stdin=json.dumps(doc).encode(),
    )  # fmt: skip
    data = {k: base64.b64decode(v) for k, v in json.loads(out)["data"].items()}
    assert data == {"slack-token": b"xoxb-123", "cfg": b"line1\nline2\n"}


def test_raw_output_is_one_ciphertext_for_the_target(our_keys: KeyFiles) -> None:
    done = run(
        "--cert", str(our_keys.cert_path), "--namespace", "ns", "--name", "target",
        "--raw", "--from-file", "k=-", stdin=b"from-stdin",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    key = seal.load_private_key(our_keys.private_pem)
    opened = seal.unseal([key], base64.b64decode(done.stdout), b"ns/target")
    assert opened == b"from-stdin"


def test_errors_are_one_line_without_values(our_keys: KeyFiles, tmp_path: Path) -> None:
    cert = str(our_keys.cert_path)
    cases = {
        ("--cert", str(tmp_path / "absent.pem")): "absent.pem",
        ("--cert", cert, "--scope", "galaxy-wide"): "--scope must be one of",
        ("--cert", cert, "--raw", "--from-literal", "b=canary-2"): "exactly one value",
        ("--cert", str(our_keys.key_path)): "not a PEM certificate",
        ("--cert", cert, "--from-literal", "nokey"): "KEY=",
    }
    for extra, expected in cases.items():
        done = run(
            "--namespace", "ns", "--name", "n", "--from-literal", "a=canary-1", *extra
        )  # fmt: skip
        err = done.stderr.decode()
        assert done.returncode == 1, (extra, err)
        assert err.startswith("secretloom: error: ") and err.count("\n") == 1, err
        assert expected in err
        assert "canary" not in err and "Traceback" not in err
