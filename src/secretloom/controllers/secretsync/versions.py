"""Source versions kept in memory between status writes.

`status.keys[].sourceVersion` records which version of each source a key was
synced from; drift detection compares against it. Persisting it on every
source change would double the API writes per change (a CRD status patch
costs the API server more than the Secret apply that is the actual job; see
docs/benchmarks.md). So a status write whose *only* difference is newer
source versions is deferred: the versions live here, drift detection reads
them from here, and they are flushed with the next status write for any
other reason, or `persist_after` seconds after the first deferral
(level-triggered: the reconciler requeues itself for that). A restarted
controller therefore sees versions at most `persist_after` old, and an older
version only makes a drift look like a source change, which the apply's 409
still catches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from secretloom.api import secretsync as api


class VersionLedger:
    def __init__(
        self, persist_after: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._persist_after = persist_after
        self._clock = clock  # for tests
        self._pending: dict[Hashable, tuple[dict[str, str], float]] = {}

    def overlay(
        self, key: Hashable, previous: Mapping[str, api.KeyStatus]
    ) -> dict[str, api.KeyStatus]:
        """`previous` (from status) with the newer versions not yet persisted."""
        versions = self._pending.get(key, ({}, 0.0))[0]
        return {
            k: s.model_copy(update={"source_version": versions[k]}) if k in versions else s
            for k, s in previous.items()
        }

    def defer(
        self, key: Hashable, desired: api.SecretSyncStatus, current: Mapping[str, Any]
    ) -> tuple[api.SecretSyncStatus, float | None]:
        """The status to write now, and when to flush deferred versions (None: nothing deferred).

        The returned status carries the persisted versions wherever only the
        version changed; the caller writes it only if it differs for another
        reason, in which case it should write `desired` instead and `forget`.
        """
        persisted = {k["key"]: k for k in current.get("keys") or []}
        kept = [
            k.model_copy(update={"source_version": persisted[k.key].get("sourceVersion", "")})
            if k.key in persisted and persisted[k.key].get("state") == k.state
            else k
            for k in desired.keys
        ]
        if kept == desired.keys:
            self.forget(key)
            return desired, None
        now = self._clock()
        first = self._pending.get(key, ({}, now))[1]
        if now - first >= self._persist_after:
            self.forget(key)
            return desired, None
        self._pending[key] = ({k.key: k.source_version for k in desired.keys}, first)
        return desired.model_copy(update={"keys": kept}), self._persist_after - (now - first)

    def forget(self, key: Hashable) -> None:
        self._pending.pop(key, None)
