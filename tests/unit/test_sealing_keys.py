"""Key ring rules and the SealedSecret -> SecretSync mapping, without a cluster (issue #13)."""

from __future__ import annotations

import base64
import datetime
import functools

import pytest

from secretloom import seal
from secretloom.api import sealing
from secretloom.api.sealedsecret import SealedSecretSpec
from secretloom.controllers.sealedsecret.translate import desired_sync, owned_by, status
from secretloom.controllers.sealing.keyring import (
    CREATED_ANNOTATION,
    KeyRing,
    renewal_reason,
)
from secretloom.runtime.kube import Obj

NOW = datetime.datetime(2026, 12, 4, 12, 0, tzinfo=datetime.UTC)
DAY = 86400.0


@functools.cache
def pair(index: int) -> tuple[bytes, bytes]:
    del index  # one distinct key per index
    return seal.generate(bits=2048)


def key_secret(
    name: str,
    age_days: float,
    *,
    label: str = sealing.KEY_LABEL,
    state: str = "active",
    index: int = 0,
) -> Obj:
    private_pem, cert_pem = pair(index)
    created = (NOW - datetime.timedelta(days=age_days)).isoformat()
    return {
        "metadata": {
            "name": name,
            "labels": {label: state},
            "annotations": {CREATED_ANNOTATION: created} if label == sealing.KEY_LABEL else {},
            "creationTimestamp": created,
        },
        "data": {
            "tls.key": base64.b64encode(private_pem).decode(),
            "tls.crt": base64.b64encode(cert_pem).decode(),
        },
    }


def test_newest_own_key_is_current_and_every_key_opens() -> None:
    ring = KeyRing.of([
        key_secret("old", 40, index=0),
        key_secret("new", 2, index=1),
        key_secret("bitnami", 1, label=sealing.BITNAMI_KEY_LABEL, index=2),
    ])  # fmt: skip
    assert ring.names() == ("bitnami", "new", "old")
    current = ring.current()
    assert current is not None and current.name == "new"  # an imported key never seals
    assert len(ring.private_keys()) == 3
    assert renewal_reason(ring, NOW, 30 * DAY) is None


@pytest.mark.parametrize(
    ("secrets", "period", "expected"),
    [
        ([], 30 * DAY, "no sealing key of our own"),
        ([("imported", 1, sealing.BITNAMI_KEY_LABEL, "active")], 30 * DAY, "no sealing key"),
        ([("k", 31, sealing.KEY_LABEL, "active")], 30 * DAY, "older than the renewal period"),
        ([("k", 1, sealing.KEY_LABEL, "compromised")], 30 * DAY, "labelled compromised"),
        ([("k", 1, sealing.KEY_LABEL, "compromised")], 0.0, "labelled compromised"),
        ([("k", 400, sealing.KEY_LABEL, "active")], 0.0, None),
    ],
)
def test_renewal_reasons(
    secrets: list[tuple[str, float, str, str]], period: float, expected: str | None
) -> None:
    ring = KeyRing.of([key_secret(n, age, label=lb, state=st) for n, age, lb, st in secrets])
    reason = renewal_reason(ring, NOW, period)
    assert (reason is None) if expected is None else (expected in (reason or ""))


def test_a_broken_key_secret_is_named_never_quoted() -> None:
    good = key_secret("good", 1, index=0)
    mismatched = key_secret("mismatched", 1, index=1)
    mismatched["data"]["tls.crt"] = good["data"]["tls.crt"]
    garbage = key_secret("garbage", 1)
    garbage["data"]["tls.key"] = base64.b64encode(b"canary-not-a-key").decode()
    ring = KeyRing.of([good, mismatched, garbage])
    assert ring.names() == ("good",)
    assert sorted(p.split(":")[0] for p in ring.problems) == ["garbage", "mismatched"]
    assert not any("canary" in p or "PRIVATE" in p for p in ring.problems)


SEALED: Obj = {
    "metadata": {"name": "slack", "namespace": "argocd", "uid": "u-1", "generation": 3},
    "spec": {
        "target": {"name": "argocd-notifications-secret", "creationPolicy": "Merge"},
        "scope": "namespace-wide",
        "encryptedData": {"b": "QkJCQg==", "a": "QUFBQQ=="},
    },
}


def test_a_sealed_secret_becomes_an_owned_secretsync_of_sealed_entries() -> None:
    spec = SealedSecretSpec.model_validate(SEALED["spec"])
    sync = desired_sync(SEALED, spec)
    assert sync["metadata"]["name"] == "slack"
    assert owned_by(sync, SEALED)
    assert sync["spec"]["target"]["name"] == "argocd-notifications-secret"
    assert sync["spec"]["data"] == [
        {"key": "a", "from": {"sealed": {"value": "QUFBQQ==", "scope": "namespace-wide"}}},
        {"key": "b", "from": {"sealed": {"value": "QkJCQg==", "scope": "namespace-wide"}}},
    ]
    assert not owned_by({"metadata": {"ownerReferences": []}}, SEALED)


def test_status_mirrors_the_current_ready_only() -> None:
    ready = {"type": "Ready", "status": "False", "reason": "UnsealFailed", "message": "m",
             "observedGeneration": 2}  # fmt: skip
    sync: Obj = {"metadata": {"name": "slack", "generation": 2}, "status": {"conditions": [ready]}}
    mirrored = status(3, sync, None).conditions[0]
    assert (mirrored.reason, mirrored.observed_generation) == ("UnsealFailed", 3)
    stale: Obj = {"metadata": {"name": "slack", "generation": 3}, "status": {"conditions": [ready]}}
    assert status(3, stale, None).conditions[0].reason == "Pending"
    refused = status(3, None, ("NameTaken", "taken")).conditions[0]
    assert (refused.status, refused.reason) == ("False", "NameTaken")


def test_invalid_encrypted_data_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="not valid Secret keys"):
        SealedSecretSpec.model_validate({**SEALED["spec"], "encryptedData": {"../x": "QUFBQQ=="}})
