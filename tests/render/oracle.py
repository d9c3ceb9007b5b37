"""Test keys and the real `sops` binary as an oracle, for the render tests.

Every key is generated per session in a temp dir; the user's keyring and age
keys are never read (GNUPGHOME, SOPS_AGE_KEY_FILE and HOME point into the
temp dir for every subprocess).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from secretloom.sops import KeySources
from secretloom.testing.tools import tool


@dataclass(frozen=True)
class AgeKey:
    identity_file: Path
    recipient: str


@dataclass(frozen=True)
class Keys:
    """Two age keys and one PGP key, plus the environment that exposes a chosen subset."""

    age: tuple[AgeKey, AgeKey]
    pgp_fingerprint: str
    gnupg_home: Path
    home: Path

    def env(self, *, age: tuple[int, ...] = (0, 1), pgp: bool = True) -> dict[str, str]:
        """A subprocess environment holding only the chosen private keys."""
        identities = self.home / f"age-{'-'.join(map(str, age)) or 'none'}.txt"
        identities.write_text("".join(self.age[i].identity_file.read_text() for i in age))
        empty_gnupg = self.home / "empty-gnupg"
        empty_gnupg.mkdir(mode=0o700, exist_ok=True)
        return {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "SOPS_AGE_KEY_FILE": str(identities),
            "GNUPGHOME": str(self.gnupg_home if pgp else empty_gnupg),
        }

    def sources(self, **subset: object) -> KeySources:
        return KeySources.from_env(self.env(**subset))  # type: ignore[arg-type]


def _run(args: list[str | Path], env: Mapping[str, str], stdin: bytes | None = None) -> bytes:
    done = subprocess.run(
        [str(a) for a in args], input=stdin, env=dict(env), capture_output=True, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"{Path(args[0]).name} failed: {done.stderr.decode()[-2000:]}")
    return done.stdout


@dataclass(frozen=True)
class Sops:
    """The real sops binary, run with a chosen key subset."""

    keys: Keys

    def encrypt(self, path: Path, config: Path, *extra: str) -> bytes:
        return _run([tool("sops"), "--config", config, "encrypt", *extra, path], self.keys.env())

    def decrypt(
        self, path: Path, *extra: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(tool("sops")), "decrypt", *extra, str(path)],
            env=dict(env or self.keys.env()),
            capture_output=True,
            check=False,
        )


@contextmanager
def generated_keys() -> Iterator[Keys]:
    # A short path: gpg-agent's socket path must fit in sockaddr_un.
    home = Path(tempfile.mkdtemp(prefix="slk"))
    try:
        pairs = []
        for index in (0, 1):
            identity = home / f"age{index}.txt"
            _run([tool("age-keygen"), "-o", identity], {"PATH": os.environ["PATH"]})
            recipient = _run([tool("age-keygen"), "-y", identity], {}).decode().strip()
            pairs.append(AgeKey(identity, recipient))
        gnupg = home / "gnupg"
        gnupg.mkdir(mode=0o700)
        env = {"PATH": os.environ["PATH"], "GNUPGHOME": str(gnupg), "HOME": str(home)}
        uid = "secretloom test <test@example.invalid>"
        gpg = tool("gpg")
        _run(
            [
                gpg,
                "--batch",
                "--passphrase",
                "",
                "--quick-generate-key",
                uid,
                "default",
                "default",
                "never",
            ],
            env,
        )
        listing = _run([gpg, "--batch", "--with-colons", "--list-secret-keys", uid], env).decode()
        fingerprint = next(
            line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
        )
        yield Keys((pairs[0], pairs[1]), fingerprint, gnupg, home)
        subprocess.run([gpg.parent / "gpgconf", "--kill", "all"], env=env, check=False)
    finally:
        shutil.rmtree(home, ignore_errors=True)
