"""When a SecretSync reads its stores again, and what it plans with meanwhile.

Kubernetes sources are watched, so only store entries are polled, and only
for SecretSyncs that have some. What the last poll returned is kept in the
SecretSync's memory (`StoreReads`, values included, as the Secret cache keeps
referenced Secrets) until it expires; a reconcile before then (a Kubernetes
source changed, the target was edited) reuses it and makes no provider call.
A poll is due (`due`) when:

* the reads expired: the refresh interval passed (success) or the backoff
  delay did (after a provider error), both jittered (`controllers.refresh`);
* the spec changed (generation), or the refresh annotation got a new value;
* nothing usable is in memory (first sight of the SecretSync) and the
  status cannot vouch for the target (`resume_window`).

Polls never run on the reconcile workers (issue 10: four SecretSyncs on a
store that answers one byte every five seconds held all four workers, and
every other SecretSync of the cluster waited). A due poll starts in the
background (`polls`), the reconcile plans at once with the last reads, and the
finished poll enqueues the SecretSync again.

Never-synced first: after a restart, a SecretSync whose status says its
target holds every store value and whose `nextRefreshTime` is still ahead
resumes from the target without polling, so start-up polls only what is due
or never synced, instead of every store entry of the cluster at once.
(A store-sourced key changed by hand while the controller was down is
therefore corrected at the next refresh, not at start-up.)
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass

from secretloom.api import kubetime
from secretloom.api import secretsync as api
from secretloom.controllers.secretsync.naming import version_hash
from secretloom.controllers.secretsync.reads import StoreReads


@dataclass(frozen=True, slots=True)
class Ask:
    """What store reads must answer to: the spec's generation and the refresh request."""

    generation: int
    request: str  # tag of the refresh annotation ("" without one)


@dataclass(frozen=True, slots=True)
class Remembered:
    """A SecretSync's last store reads, and until when they stand in for a poll."""

    reads: StoreReads
    ask: Ask
    expires: float  # monotonic; -inf: stale, poll at the next reconcile
    last_refresh: str  # RFC 3339 of the last successful poll ("" if none yet)
    next_refresh: str  # RFC 3339 of the next one ("" if never: interval 0)


def due(remembered: Remembered | None, ask: Ask, now: float) -> bool:
    """Must the stores be read (again) for `ask`?"""
    return remembered is None or remembered.ask != ask or now >= remembered.expires


def meanwhile(
    kept: Remembered | None, status: api.SecretSyncStatus, ask: Ask, reads: StoreReads
) -> Remembered | None:
    """What the status reports about store reads while the poll for `ask` runs.

    The last poll stays reported, with the refresh request it answered, so
    `lastRefreshTime` does not blink out during every poll; its
    `nextRefreshTime` only if it was made for this very spec and request, so a
    controller restarted meanwhile never resumes reads made for another spec
    (`resume_window` needs a next refresh still ahead). `kept` is the last poll
    in memory; after a restart the status itself says what it was.
    """
    if kept is not None:
        last, upcoming, asked = kept.last_refresh, kept.next_refresh, kept.ask
    elif status.last_refresh_time:
        asked = Ask(status.observed_generation, status.refresh_request)
        last, upcoming = status.last_refresh_time, status.next_refresh_time
    else:
        return None
    return Remembered(reads, asked, -math.inf, last, upcoming if asked == ask else "")


def request_of(annotations: Mapping[str, str] | None) -> str:
    """A short tag of the refresh annotation's value ("" without one); never its text."""
    value = (annotations or {}).get(api.REFRESH_ANNOTATION)
    return "" if value is None else version_hash("refresh", value)


def resume_window(
    status: api.SecretSyncStatus,
    *,
    generation: int,
    request: str,
    interval: float,
    now: datetime.datetime,
) -> float | None:
    """Seconds the status says the last poll stays good for; None if it cannot vouch.

    The status vouches when it was written for this generation and refresh
    request, records a successful poll, and its next refresh is still ahead
    (or never comes: interval 0). Whether the target still holds the values
    is the caller's check.
    """
    if status.observed_generation != generation or status.refresh_request != request:
        return None
    if not status.last_refresh_time:
        return None
    if interval <= 0:
        return math.inf
    next_at = kubetime.parse(status.next_refresh_time)
    if next_at is None or next_at <= now:
        return None
    return (next_at - now).total_seconds()
