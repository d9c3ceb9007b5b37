"""`secretloom sops decrypt` and the pre-commit hook `secretloom sops edit-check`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.render.oracle import Keys, Sops

SECLOOM = Path(sys.executable).parent / "secretloom"
REPO = Path(__file__).resolve().parents[2]


def run(*args: str | Path, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(SECLOOM), "sops", *map(str, args)], cwd=cwd, env=env, capture_output=True, check=False
    )


def test_decrypt_prints_what_sops_prints(tmp_path: Path, keys: Keys, sops: Sops) -> None:
    plain = tmp_path / "app.env"
    plain.write_text("A=1\nB=two words\n")
    config = tmp_path / ".sops.yaml"
    config.write_text(f"creation_rules:\n  - age: {keys.age[0].recipient}\n")
    plain.write_bytes(sops.encrypt(plain, config))
    done = run("decrypt", plain, cwd=tmp_path, env=keys.env())
    assert done.returncode == 0
    assert done.stdout == sops.decrypt(plain).stdout == b"A=1\nB=two words\n"


def test_decrypt_with_the_wrong_key_is_one_line(tmp_path: Path, keys: Keys) -> None:
    example = REPO / "examples" / "argocd-cmp-app" / "chart" / "secrets.yaml"
    done = run("decrypt", example, cwd=tmp_path, env=keys.env(age=(0,), pgp=False))
    assert done.returncode != 0 and done.stdout == b""
    assert done.stderr.count(b"\n") == 1 and b"no identity matches" in done.stderr


def test_edit_check_refuses_plaintext_matched_by_creation_rules(
    tmp_path: Path, keys: Keys, sops: Sops
) -> None:
    (tmp_path / ".sops.yaml").write_text(
        yaml.safe_dump(
            {"creation_rules": [{"path_regex": r"secrets\.yaml$", "age": keys.age[0].recipient}]}
        )
    )
    (tmp_path / "deploy").mkdir()
    leaked = tmp_path / "deploy" / "secrets.yaml"
    leaked.write_text("password: hunter2-canary\n")
    unrelated = tmp_path / "deploy" / "values.yaml"
    unrelated.write_text("replicas: 2\n")
    done = run(
        "edit-check", leaked, unrelated, tmp_path / ".sops.yaml", cwd=tmp_path, env=keys.env()
    )
    assert done.returncode != 0
    assert b"deploy/secrets.yaml" in done.stderr and b"hunter2" not in done.stderr
    assert b"values.yaml" not in done.stderr
    leaked.write_bytes(sops.encrypt(leaked, tmp_path / ".sops.yaml"))
    done = run("edit-check", leaked, unrelated, cwd=tmp_path, env=keys.env())
    assert done.returncode == 0, done.stderr


def test_pre_commit_hook_definition_runs_the_check() -> None:
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["entry"] == "secretloom sops edit-check" and hook["language"] == "python"
