"""Everything the controller remembers about one SecretSync between reconciles, in one record.

The reconcile is level-triggered: it reads the truth from the caches every
time. What it keeps in memory is only what saves work or paces it: the last
store reads and the poll in flight, the poll's failure count (its backoff),
the drift corrections (their backoff and `Contested`), source versions not yet
persisted to the status, how often the target apply was refused in a row, and
when a source event was first seen (the propagation metric). kopf keeps one
`ResourceMemory` per object for the same reason; before this record there
were five ledgers keyed by SecretSync that had to be cleared one by one, and
the manager wrote into one of them (issue 11).

A record is created on first use and forgotten in one step when its
SecretSync is gone or being deleted, which also cancels its poll. A restarted
controller starts with no records: reads resume from the status where it can
vouch for them (`refresh`), backoffs start over.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from secretloom.controllers.secretsync.drift import Corrections, DriftPolicy
from secretloom.controllers.secretsync.leases import Book
from secretloom.controllers.secretsync.refresh import Ask, Remembered
from secretloom.controllers.secretsync.versions import PendingVersions
from secretloom.runtime.informer import Key


@dataclass
class Poll:
    """A store poll in flight, and the spec generation and refresh request it reads for."""

    task: asyncio.Task[None]
    ask: Ask


@dataclass
class Memory:
    corrections: Corrections
    versions: PendingVersions
    reads: Remembered | None = None
    poll: Poll | None = None
    poll_failures: int = 0
    apply_failures: int = 0
    source_seen: float | None = None  # perf_counter of the first source event not yet written
    wrote: str = ""  # resourceVersion its last target write produced (its own watch event)
    leases: Book = field(default_factory=Book)  # spec.dynamic's leases (issue 14)

    def stop_polling(self) -> None:
        if self.poll is not None:
            self.poll.task.cancel()
            self.poll = None


@dataclass
class Memories:
    drift: DriftPolicy = field(default_factory=DriftPolicy)
    persist_after: float = 60.0  # versions are persisted within this (see `versions`)
    _records: dict[Key, Memory] = field(default_factory=dict, init=False)

    def of(self, key: Key) -> Memory:
        """The record of `key`, created empty on first use."""
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = Memory(
                Corrections(self.drift), PendingVersions(self.persist_after)
            )
        return record

    def get(self, key: Key) -> Memory | None:
        return self._records.get(key)

    def forget(self, key: Key) -> None:
        record = self._records.pop(key, None)
        if record is not None:
            record.stop_polling()

    def close(self) -> None:
        for key in list(self._records):
            self.forget(key)

    def __len__(self) -> int:
        return len(self._records)
