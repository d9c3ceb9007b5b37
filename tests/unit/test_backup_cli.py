"""What `secretloom backup` keeps of an object, and its retention, without a cluster (#13)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyrage  # type: ignore[import-untyped]
import pytest

from secretloom.cli.backup import (
    ARCHIVE_PREFIX,
    FORMAT,
    ArchiveError,
    _prune,
    checked,
    portable,
)

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


CANARY = "restore-canary-value"
KEY: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Secret",
    "metadata": {"name": "key", "namespace": "secretloom-system"},
    "data": {"tls.key": CANARY},
}  # fmt: skip
SYNC = {"apiVersion": "secretloom.io/v1alpha1", "kind": "SecretSync", "spec": {"x": CANARY}}


def test_a_malformed_object_is_named_by_its_index_and_what_is_wrong() -> None:
    cases: list[tuple[Any, str]] = [
        ({**KEY, "kind": "ConfigMap"}, "objects[1]: unknown kind 'ConfigMap'"),
        ({"metadata": KEY["metadata"], "data": KEY["data"]}, "objects[1]: kind is missing"),
        ({**KEY, "kind": ["Secret"]}, "objects[1]: kind is missing"),
        ({**KEY, "apiVersion": "v2"}, "objects[1] (Secret): apiVersion is not v1"),
        (SYNC, "objects[1] (SecretSync): no metadata"),
        ({**SYNC, "metadata": {"namespace": "a"}}, "objects[1] (SecretSync): no metadata.name"),
        ({**SYNC, "metadata": {"name": "app"}}, "(SecretSync app): no metadata.namespace"),
        ({**KEY, "metadata": {"name": "a/b", "namespace": "n"}},
         "objects[1] (Secret): metadata.name is not an object name"),
        ({**KEY, "metadata": {"name": "a", "namespace": 7}},
         "objects[1] (Secret a): metadata.namespace is not a namespace name"),
        (
            {"apiVersion": "secretloom.io/v1alpha1", "kind": "ClusterSecretStore",
             "metadata": {"name": "s", "namespace": None}},
            "objects[1] (ClusterSecretStore s): cluster-scoped, but has metadata.namespace",
        ),
        ([CANARY], "objects[1]: not an object"),
    ]  # fmt: skip
    for malformed, expected in cases:
        with pytest.raises(ArchiveError) as raised:
            checked([KEY, malformed, KEY])
        assert expected in str(raised.value), str(raised.value)
        assert CANARY not in str(raised.value)
    with pytest.raises(ArchiveError, match="objects is not a list"):
        checked({"a": KEY})
    assert checked([KEY, SYNC | {"metadata": {"name": "a", "namespace": "b"}}])


def test_restore_refuses_a_malformed_archive_in_one_line_before_touching_the_cluster(
    tmp_path: Path,
) -> None:
    identity = pyrage.x25519.Identity.generate()
    (tmp_path / "id.txt").write_text(str(identity) + "\n")
    cases = {
        "unknown-kind": ({**KEY, "kind": "ConfigMap"}, "objects[1]: unknown kind 'ConfigMap'"),
        "no-metadata": (SYNC, "objects[1] (SecretSync): no metadata"),
    }
    for case, (malformed, expected) in cases.items():
        document = {"format": FORMAT, "objects": [KEY, malformed, KEY]}
        archive = tmp_path / f"{case}.age"
        archive.write_bytes(pyrage.encrypt(json.dumps(document).encode(), [identity.to_public()]))
        done = subprocess.run(
            [SECRETLOOM, "restore", "-i", str(archive), "--identity", str(tmp_path / "id.txt"),
             "--kubeconfig", str(tmp_path / "no-cluster")],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        # The archive is refused, not the missing kubeconfig: checked before any connection.
        assert done.returncode == 1, (case, done.stderr)
        assert done.stderr.startswith(f"secretloom: error: --input {archive}: {expected}")
        assert "nothing was restored" in done.stderr and "Traceback" not in done.stderr
        assert done.stderr.count("\n") == 1 and CANARY not in done.stderr
