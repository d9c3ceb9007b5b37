"""The SOURCES column of `kubectl get secretsyncs`: a short, bounded summary of the spec."""

from __future__ import annotations

from typing import Any

from secretloom.api.secretsync import SecretSyncSpec


def spec(
    data: list[dict[str, Any]], data_from: list[dict[str, Any]] | None = None
) -> SecretSyncSpec:
    return SecretSyncSpec.model_validate(
        {"target": {"name": "t"}, "data": data, "dataFrom": data_from or []}
    )


def secret(key: str, name: str) -> dict[str, Any]:
    return {"key": key, "from": {"secret": name, "key": "k"}}


def store(key: str, name: str, kind: str = "SecretStore") -> dict[str, Any]:
    return {
        "key": key,
        "from": {"store": {"name": name, "kind": kind}, "path": "p", "property": "q"},
    }


def test_one_secret_is_named_and_several_are_counted() -> None:
    assert spec([secret("a", "x"), secret("b", "x")]).source_summary() == "secret/x"
    assert spec([secret("a", "x"), secret("b", "y")]).source_summary() == "2 secrets"


def test_stores_are_listed_once_each_with_their_kind() -> None:
    summary = spec(
        [secret("a", "x"), store("b", "vault"), store("c", "vault")],
        [{"store": {"name": "aws", "kind": "ClusterSecretStore"}, "path": "app"}],
    ).source_summary()
    assert summary == "secret/x, clustersecretstore/aws, secretstore/vault"


def test_a_long_summary_is_cut_at_a_whole_item() -> None:
    summary = spec([store(f"k{i}", f"store-{i:02d}") for i in range(30)]).source_summary()
    assert len(summary) <= 80
    assert summary.endswith(", …")
    assert all(part.startswith("secretstore/store-") for part in summary.split(", ")[:-1])
