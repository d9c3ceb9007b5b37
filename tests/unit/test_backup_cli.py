"""What `secretloom backup` keeps of an object, and its retention, without a cluster (#13)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from secretloom.cli.backup import ARCHIVE_PREFIX, _prune, portable

SECRETLOOM = str(Path(sys.executable).parent / "secretloom")


def test_portable_keeps_only_what_the_author_wrote() -> None:
    live = {
        "apiVersion": "secretloom.io/v1alpha1",
        "kind": "SecretSync",
        "metadata": {
            "name": "s", "namespace": "ns", "uid": "u", "resourceVersion": "7", "generation": 3,
            "labels": {"team": "a"}, "finalizers": ["secretloom.io/cleanup"],
            "ownerReferences": [{"name": "o"}], "managedFields": [{"manager": "m"}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}", "x": "y"},
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"target": {"name": "t"}},
        "status": {"keyCount": 1},
    }  # fmt: skip
    assert portable(live, "secretloom.io/v1alpha1", "SecretSync") == {
        "apiVersion": "secretloom.io/v1alpha1",
        "kind": "SecretSync",
        "metadata": {"name": "s", "namespace": "ns", "labels": {"team": "a"},
                     "annotations": {"x": "y"}},
        "spec": {"target": {"name": "t"}},
    }  # fmt: skip


def test_retention_removes_only_old_archives(tmp_path: Path) -> None:
    old, recent, other = (
        tmp_path / f"{ARCHIVE_PREFIX}old.age",
        tmp_path / f"{ARCHIVE_PREFIX}recent.age",
        tmp_path / "unrelated-old.age",
    )
    for path in (old, recent, other):
        path.write_bytes(b"x")
    ancient = time.time() - 40 * 86400
    for path in (old, other):
        os.utime(path, (ancient, ancient))
    assert _prune(tmp_path, recent, 30) == 1
    assert not old.exists() and recent.exists() and other.exists()


def test_output_flags_are_checked_in_one_line(tmp_path: Path) -> None:
    cases = {
        ("-o", str(tmp_path / "a"), "--output-dir", str(tmp_path)): "exactly one of",
        ("-o", str(tmp_path / "a"), "--retention-days", "3"): "--retention-days needs",
    }
    for args, expected in cases.items():
        done = subprocess.run(
            [SECRETLOOM, "backup", "--recipient", "age1x", *args],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert done.returncode == 1 and expected in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1
