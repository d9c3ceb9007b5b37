"""Deferred source versions: no status write per source change, flushed within a bound."""

from __future__ import annotations

from secretloom.api import secretsync as api
from secretloom.controllers.secretsync.versions import PendingVersions


def status(version: str, state: str = "Synced") -> api.SecretSyncStatus:
    return api.SecretSyncStatus(
        keys=[api.KeyStatus(key="k", source="secret/s#k", source_version=version, state=state)]
    )


def persisted(version: str) -> dict[str, object]:
    return status(version).model_dump(by_alias=True, mode="json")


def test_a_version_only_change_is_deferred_then_flushed() -> None:
    now = 100.0
    pending = PendingVersions(persist_after=60)
    to_write, flush_in = pending.defer(status("v2"), persisted("v1"), now)
    assert to_write == status("v1")  # what is persisted already: nothing to write
    assert flush_in == 60
    previous = pending.overlay({k.key: k for k in status("v1").keys})
    assert previous["k"].source_version == "v2"  # drift detection sees the newest version

    now += 30
    _, flush_in = pending.defer(status("v3"), persisted("v1"), now)
    assert flush_in == 30  # bounded from the first deferral, not the last
    now += 30
    to_write, flush_in = pending.defer(status("v3"), persisted("v1"), now)
    assert to_write == status("v3")
    assert flush_in is None
    assert pending.versions == {} and pending.since is None


def test_other_changes_are_not_deferred() -> None:
    pending = PendingVersions()
    to_write, flush_in = pending.defer(status("v1", "SourceMissing"), persisted("v1"), 0.0)
    assert to_write == status("v1", "SourceMissing")
    assert flush_in is None
    to_write, flush_in = pending.defer(status("v1"), persisted("v1"), 0.0)
    assert flush_in is None
