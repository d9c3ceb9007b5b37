"""Dynamic-credential decisions (issue 14): what an entry resolves to, when it works, recovery."""

from __future__ import annotations

import base64

from secretloom.api import secretsync as api
from secretloom.controllers.secretsync import leases as l
from secretloom.controllers.secretsync import plan as p
from secretloom.providers.protocol import Lease

ENTRY = api.DynamicEntry.model_validate(
    {"store": {"name": "vault"}, "path": "database/creds/app", "prefix": "db-"}
)
LABEL = "secretstore/vault:database/creds/app#lease"
LEASE = Lease("database/creds/app/abc", {"username": b"v-app", "password": b"pw"}, 10.0, True)


def test_a_lease_becomes_prefixed_keys_versioned_by_its_fingerprint() -> None:
    held = l._held(ENTRY, LEASE, now=100.0)
    assert (held.renew_at, held.expires) == (105.0, 110.0)  # renewAtPercent 50
    results = l._results(LABEL, l.Entry(ENTRY, held=held))
    assert [(r.key, r.value) for r in results] == [
        ("db-password", base64.b64encode(b"pw").decode()),
        ("db-username", base64.b64encode(b"v-app").decode()),
    ]
    assert {r.version for r in results} == {held.fingerprint}
    assert LEASE.lease_id not in held.fingerprint and len(held.fingerprint) == 16


def test_before_the_first_lease_the_entry_waits_and_a_failure_keeps_last_values() -> None:
    (waiting,) = l._results(LABEL, l.Entry(ENTRY))
    assert (waiting.key, waiting.reason) == (LABEL, p.PENDING)
    failure = p.Resolved("", LABEL, reason="ProviderError", kind="Unavailable", message="down")
    (failed,) = l._results(LABEL, l.Entry(ENTRY, failure=failure))
    assert (failed.key, failed.kind) == (LABEL, "Unavailable")
    held = l._held(ENTRY, LEASE, now=0.0)
    kept = l._results(LABEL, l.Entry(ENTRY, held=held, failure=failure))
    assert {r.key for r in kept} == {"db-password", "db-username"}
    assert all(r.value is None and r.reason == "ProviderError" for r in kept)


def test_work_is_due_on_renewal_replacement_revocation_and_never_while_backing_off() -> None:
    held = l._held(ENTRY, LEASE, now=0.0)
    assert l._due(l.Entry(ENTRY), 0.0)  # nothing issued yet
    assert not l._due(l.Entry(ENTRY, held=held), 4.9)
    assert l._next(l.Entry(ENTRY, held=held), 4.0) == 1.0
    assert l._due(l.Entry(ENTRY, held=held), 5.0)
    assert l._due(l.Entry(ENTRY, held=held, replace=True), 1.0)
    retiring = l.Entry(ENTRY, held=held, retiring=[("old", 3.0)])
    assert not l._due(retiring, 2.0) and l._due(retiring, 3.0)
    backing_off = l.Entry(ENTRY, held=held, retry_at=20.0)
    assert not l._due(backing_off, 10.0)
    assert l._next(backing_off, 10.0) == 10.0


def test_a_restarted_controller_recovers_the_lease_from_the_target_and_status() -> None:
    annotation = l.annotation_key("db", 0)
    data = {"db-username": "dg==", "db-password": "cA=="}
    target = {"metadata": {"annotations": {annotation: LEASE.lease_id}}, "data": data}
    status = api.SecretSyncStatus(
        keys=[api.KeyStatus(key=k, source=LABEL) for k in ("db-username", "db-password")],
        leases=[api.LeaseStatus(source=LABEL, fingerprint="f", ttl_seconds=10)],
    )
    held = l._recovered(ENTRY, annotation, target, status, now=50.0)
    assert held is not None
    assert (held.lease_id, held.ttl, held.renew_at) == (LEASE.lease_id, 10.0, 50.0)
    assert held.values == {"db-username": "dg==", "db-password": "cA=="}
    # Without the id, the TTL or every key on the target: issue anew.
    assert l._recovered(ENTRY, l.annotation_key("db", 1), target, status, now=50.0) is None
    assert (
        l._recovered(ENTRY, annotation, target, api.SecretSyncStatus(keys=status.keys), 0) is None
    )
    del data["db-password"]
    assert l._recovered(ENTRY, annotation, target, status, now=50.0) is None


def test_keys_of_spec_data_win_over_a_lease_and_annotation_keys_stay_valid() -> None:
    data = p.Resolved("db-username", "secret/s#u", value="eA==", version="1")
    held = l._held(ENTRY, LEASE, now=0.0)
    merged = l.merged([data], l._results(LABEL, l.Entry(ENTRY, held=held)))
    assert [(r.key, r.source) for r in merged] == [
        ("db-username", "secret/s#u"),
        ("db-password", LABEL),
    ]
    long = l.annotation_key("x" * 253, 3)
    assert len(long.split("/", 1)[1]) <= 63 and long.endswith(".3")


def test_a_static_role_has_no_annotation_and_is_reread_no_faster_than_a_second() -> None:
    static = Lease("", {"username": b"app", "password": b"pw"}, 0.2, False)
    held = l._held(ENTRY, static, now=10.0)
    assert held.renew_at == 10.0 + l.MIN_RENEW_DELAY
    again = l._held(ENTRY, static, now=11.0)
    assert held.fingerprint != again.fingerprint  # each read is a new version, never a value
