"""Shard assignment: stable, spread, and the fence's reading of an API path."""

from __future__ import annotations

from collections import Counter
from hashlib import sha256

from secretloom.runtime.shards import namespace_of_path, shard_of


def test_shard_of_is_stable_across_processes_and_versions() -> None:
    # Pinned values: replicas of different versions must agree, so the hash is
    # sha256 (not Python's per-process `hash`) and must never change.
    names = ("argocd", "team-a", "team-b", "default")
    assert [shard_of(ns, 3) for ns in names] == [1, 0, 2, 1]
    assert [shard_of(ns, 16) for ns in names] == [6, 4, 10, 13]
    assert shard_of("argocd", 3) == int.from_bytes(sha256(b"argocd").digest()[:8], "big") % 3
    assert {shard_of(f"ns-{i}", 1) for i in range(50)} == {0}


def test_namespaces_spread_evenly() -> None:
    counts = Counter(shard_of(f"team-{i}", 4) for i in range(4000))
    assert set(counts) == {0, 1, 2, 3}
    assert all(800 <= n <= 1200 for n in counts.values()), counts


def test_namespace_of_path() -> None:
    assert namespace_of_path("/api/v1/namespaces/team-a/secrets/target") == "team-a"
    assert namespace_of_path("/api/v1/namespaces/team-a/events") == "team-a"
    assert (
        namespace_of_path("/apis/secretloom.io/v1alpha1/namespaces/b/secretsyncs/s/status") == "b"
    )
    assert namespace_of_path("/apis/secretloom.io/v1alpha1/clustersecretstores/x/status") == ""
