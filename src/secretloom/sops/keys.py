"""Master keys: recovering a file's data key with age identities or GnuPG.

Key sources are the ones `sops` reads: age identities from `SOPS_AGE_KEY`
and `SOPS_AGE_KEY_FILE` (else `$XDG_CONFIG_HOME/sops/age/keys.txt`), the
GnuPG keyring of `GNUPGHOME` through the `gpg` binary (`SOPS_GPG_EXEC` to
override), and AWS KMS with the environment's AWS credentials (`kms.py`).
age decryption is in-process (pyrage, the rage implementation);
PGP goes through gpg because that is where users' private keys live (agent,
smartcards), run without a shell and with the armored message on stdin.

Key groups: with one group any key of it yields the data key; with several,
each group yields a Shamir share and `shamir_threshold` shares rebuild it.
Within a group age is tried before PGP (sops's default order); groups are
tried in order and we stop at the threshold, saving gpg calls.

Identities never appear in reprs, logs or errors.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyrage  # type: ignore[import-untyped]

from secretloom.sops import kms, shamir
from secretloom.sops.errors import DataKeyError
from secretloom.sops.metadata import MasterKey, Metadata

_ORDER = {"age": 0, "pgp": 1, "kms": 2}  # local keys before a network call
_GPG_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class KeySources:
    """Where data keys come from. Build with `from_env`; identities stay private."""

    age_identities: tuple[Any, ...] = field(default=(), repr=False)
    gpg: str | None = None
    gpg_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    aws_env: Mapping[str, str] = field(default_factory=dict, repr=False)  # AWS_*

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KeySources:
        env = os.environ if env is None else env
        texts = [env.get("SOPS_AGE_KEY", "")]
        key_file = env.get("SOPS_AGE_KEY_FILE") or _default_age_key_file(env)
        if key_file and Path(key_file).is_file():
            texts.append(Path(key_file).read_text(encoding="utf-8"))
        return cls(
            age_identities=tuple(_age_identities("\n".join(texts))),
            gpg=env.get("SOPS_GPG_EXEC") or shutil.which("gpg"),
            gpg_env={k: v for k, v in env.items() if k in ("GNUPGHOME", "HOME", "PATH", "LANG")},
            aws_env={k: v for k, v in env.items() if k.startswith("AWS_")},
        )

    def data_key(self, metadata: Metadata, *, where: str) -> bytes:
        groups = metadata.key_groups
        if len(groups) == 1:
            return self._group_part(groups[0], where)
        threshold = metadata.shamir_threshold or len(groups)
        parts, failures = [], []
        for index, group in enumerate(groups):
            try:
                parts.append(self._group_part(group, where))
            except DataKeyError as err:
                failures.append(f"group {index + 1}: {err}")
            if len(parts) >= threshold:
                return shamir.combine(parts)
        raise DataKeyError(
            f"{where}: {len(parts)} of {threshold} required key groups could be decrypted "
            f"({'; '.join(failures)})"
        )

    def _group_part(self, group: tuple[MasterKey, ...], where: str) -> bytes:
        failures = []
        for key in sorted(group, key=lambda k: _ORDER.get(k.kind, len(_ORDER))):
            try:
                return self._decrypt_key(key)
            except DataKeyError as err:
                failures.append(str(err))
        raise DataKeyError(
            f"{where}: no master key could decrypt the data key ({'; '.join(failures)})"
        )

    def _decrypt_key(self, key: MasterKey) -> bytes:
        if key.kind == "age":
            return self._age(key)
        if key.kind == "pgp":
            return self._pgp(key)
        if key.kind == "kms":
            return kms.decrypt(key, self.aws_env)
        raise DataKeyError(f"{key.kind} {key.name}: key type not supported by secretloom")

    def _age(self, key: MasterKey) -> bytes:
        if not self.age_identities:
            raise DataKeyError(f"age {key.name}: no age identity (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY)")
        try:
            return bytes(pyrage.decrypt(key.enc.encode(), list(self.age_identities)))
        except pyrage.DecryptError:
            raise DataKeyError(f"age {key.name}: no identity matches") from None

    def _pgp(self, key: MasterKey) -> bytes:
        if self.gpg is None:
            raise DataKeyError(f"pgp {key.name}: gpg not found on PATH")
        try:
            done = subprocess.run(
                [self.gpg, "--batch", "--quiet", "--no-tty", "--decrypt"],
                input=key.enc.encode(),
                capture_output=True,
                env=dict(self.gpg_env),
                timeout=_GPG_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise DataKeyError(f"pgp {key.name}: gpg failed ({type(err).__name__})") from None
        if done.returncode != 0:
            raise DataKeyError(f"pgp {key.name}: gpg could not decrypt (exit {done.returncode})")
        return done.stdout


def _default_age_key_file(env: Mapping[str, str]) -> str | None:
    config = env.get("XDG_CONFIG_HOME") or (
        str(Path(env["HOME"]) / ".config") if env.get("HOME") else None
    )
    return str(Path(config) / "sops" / "age" / "keys.txt") if config else None


def _age_identities(text: str) -> list[Any]:
    identities = []
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if line.startswith("AGE-SECRET-KEY-"):
            try:
                identities.append(pyrage.x25519.Identity.from_str(line))
            except pyrage.IdentityError:
                raise DataKeyError("an age identity in the key sources is malformed") from None
    return identities
