"""Bitnami's real `kubeseal` and key generator as the judges of secretloom's sealing.

Both are built once into the cache by `make kubeseal` (hack/build-kubeseal.sh,
Sealed Secrets v0.40.0 from the Go module proxy); the tests only look them up
(`--cached`) and fail naming that step when missing. kubeseal runs with an
empty HOME and no KUBECONFIG: `--cert` sealing and `--recovery-unseal` need
no cluster, and must not find one by accident.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from secretloom import seal

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class KeyFiles:
    private_pem: bytes
    cert_pem: bytes
    key_path: Path
    cert_path: Path


@dataclass(frozen=True)
class Kubeseal:
    bin_dir: Path
    home: Path

    def call(self, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.home)}
        return subprocess.run(
            [str(self.bin_dir / "kubeseal"), *args],
            input=stdin,
            capture_output=True,
            env=env,
            check=False,
            timeout=60,
        )

    def run(self, *args: str, stdin: bytes = b"") -> bytes:
        done = self.call(*args, stdin=stdin)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return done.stdout

    def keygen(self, name: str, namespace: str) -> dict[str, object]:
        done = subprocess.run(
            [str(self.bin_dir / "sealed-secrets-keygen"), "--name", name, "--namespace", namespace],
            capture_output=True,
            check=True,
            timeout=120,
        )
        secret: dict[str, object] = json.loads(done.stdout)
        return secret


@pytest.fixture(scope="session")
def kubeseal_bin(tmp_path_factory: pytest.TempPathFactory) -> Kubeseal:
    done = subprocess.run(
        ["bash", str(REPO / "hack" / "build-kubeseal.sh"), "--cached"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(done.stderr.strip())
    return Kubeseal(Path(done.stdout.strip()), tmp_path_factory.mktemp("kubeseal-home"))


def write_keys(directory: Path, private_pem: bytes, cert_pem: bytes) -> KeyFiles:
    key_path, cert_path = directory / "tls.key", directory / "tls.crt"
    key_path.write_bytes(private_pem)
    cert_path.write_bytes(cert_pem)
    return KeyFiles(private_pem, cert_pem, key_path, cert_path)


@pytest.fixture(scope="session")
def our_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyFiles:
    """A key pair as secretloom makes it (RSA-4096)."""
    private_pem, cert_pem = seal.generate()
    return write_keys(tmp_path_factory.mktemp("ourkeys"), private_pem, cert_pem)


@pytest.fixture(scope="session")
def bitnami_keys(kubeseal_bin: Kubeseal, tmp_path_factory: pytest.TempPathFactory) -> KeyFiles:
    """A key pair made by the sealed-secrets module's own key generation (RSA-4096)."""
    secret = kubeseal_bin.keygen("sealed-secrets-keyabcde", "kube-system")
    data = secret["data"]
    assert isinstance(data, dict)
    return write_keys(
        tmp_path_factory.mktemp("bitnamikeys"),
        base64.b64decode(data["tls.key"]),
        base64.b64decode(data["tls.crt"]),
    )
