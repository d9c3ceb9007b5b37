"""Deferred source versions: no status write per source change, flushed within a bound."""

from __future__ import annotations

from secretloom.api import secretsync as api
from secretloom.controllers.secretsync.versions import VersionLedger


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def status(version: str, state: str = "Synced") -> api.SecretSyncStatus:
    return api.SecretSyncStatus(
        keys=[api.KeyStatus(key="k", source="secret/s#k", source_version=version, state=state)]
    )


def persisted(version: str) -> dict[str, object]:
    return status(version).model_dump(by_alias=True, mode="json")


def test_a_version_only_change_is_deferred_then_flushed() -> None:
    clock = Clock()
    ledger = VersionLedger(persist_after=60, clock=clock)
    to_write, flush_in = ledger.defer("a", status("v2"), persisted("v1"))
    assert to_write == status("v1")  # what is persisted already: nothing to write
    assert flush_in == 60
    previous = ledger.overlay("a", {k.key: k for k in status("v1").keys})
    assert previous["k"].source_version == "v2"  # drift detection sees the newest version

    clock.now += 30
    _, flush_in = ledger.defer("a", status("v3"), persisted("v1"))
    assert flush_in == 30  # bounded from the first deferral, not the last
    clock.now += 30
    to_write, flush_in = ledger.defer("a", status("v3"), persisted("v1"))
    assert to_write == status("v3")
    assert flush_in is None


def test_other_changes_are_not_deferred() -> None:
    ledger = VersionLedger(clock=Clock())
    to_write, flush_in = ledger.defer("a", status("v1", "SourceMissing"), persisted("v1"))
    assert to_write == status("v1", "SourceMissing")
    assert flush_in is None
    to_write, flush_in = ledger.defer("a", status("v1"), persisted("v1"))
    assert flush_in is None
