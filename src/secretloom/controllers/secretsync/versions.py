"""Source versions kept in memory between status writes.

`status.keys[].sourceVersion` records which version of each source a key was
synced from; drift detection compares against it. Persisting it on every
source change would double the API writes per change (a CRD status patch
costs the API server more than the Secret apply that is the actual job; see
docs/benchmarks.md). So a status write whose *only* difference is newer
source versions is deferred: the versions live here, in the SecretSync's
memory record, drift detection reads them from here, and they are flushed
with the next status write for any other reason, or `persist_after` seconds
after the first deferral (level-triggered: the reconciler requeues itself for
that). A restarted controller therefore sees versions at most `persist_after`
old, and an older version only makes a drift look like a source change,
which the apply's 409 still catches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from secretloom.api import secretsync as api


@dataclass
class PendingVersions:
    """One SecretSync's source versions not yet persisted, and since when."""

    persist_after: float = 60.0
    versions: dict[str, str] = field(default_factory=dict)
    since: float | None = None  # monotonic time of the first deferral

    def overlay(self, previous: Mapping[str, api.KeyStatus]) -> dict[str, api.KeyStatus]:
        """`previous` (from status) with the newer versions not yet persisted."""
        return {
            k: s.model_copy(update={"source_version": self.versions[k]})
            if k in self.versions
            else s
            for k, s in previous.items()
        }

    def defer(
        self, desired: api.SecretSyncStatus, current: Mapping[str, Any], now: float
    ) -> tuple[api.SecretSyncStatus, float | None]:
        """The status to write now, and when to flush deferred versions (None: nothing deferred).

        The returned status carries the persisted versions wherever only the
        version changed; the caller writes it only if it differs for another
        reason, in which case it should write `desired` instead and `clear`.
        """
        persisted = {k["key"]: k for k in current.get("keys") or []}
        kept = [
            k.model_copy(update={"source_version": persisted[k.key].get("sourceVersion", "")})
            if k.key in persisted and persisted[k.key].get("state") == k.state
            else k
            for k in desired.keys
        ]
        if kept == desired.keys:
            self.clear()
            return desired, None
        first = now if self.since is None else self.since
        if now - first >= self.persist_after:
            self.clear()
            return desired, None
        self.versions = {k.key: k.source_version for k in desired.keys}
        self.since = first
        return desired.model_copy(update={"keys": kept}), self.persist_after - (now - first)

    def clear(self) -> None:
        self.versions = {}
        self.since = None
