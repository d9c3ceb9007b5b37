"""When a SecretSync reads its stores again: refresh intervals, jitter and outage backoff.

Kubernetes sources are watched, so only store entries are polled, and only
for SecretSyncs that have some. What the last poll returned is kept in memory
(`StoreReads`, values included, as the Secret cache keeps referenced Secrets)
until it expires; a reconcile before then (a Kubernetes source changed, the
target was edited) reuses it and makes no provider call. A poll happens when:

* the reads expired: the refresh interval passed (success) or the backoff
  delay did (after a provider error);
* the spec changed (generation), or the refresh annotation got a new value;
* nothing usable is in memory (first sight of the SecretSync) and the
  status cannot vouch for the target (`resumable`).

Jitter: each interval is shortened by a random fraction (up to `jitter`, 10%
by default), so SecretSyncs created together drift apart instead of polling
in lockstep forever (ESO's refresh storms).

Never-synced first: after a restart, a SecretSync whose status says its
target holds every store value and whose `nextRefreshTime` is still ahead
resumes from the target without polling, so start-up polls only what is due
or never synced, instead of every store entry of the cluster at once.
(A store-sourced key changed by hand while the controller was down is
therefore corrected at the next refresh, not at start-up.)

Backoff: consecutive failed polls of a SecretSync wait `backoff_base`
doubling to `backoff_max` (a per-key limiter with a global token bucket,
the work queue's `RateLimiter`), jittered, so an outage of a store used by a
thousand SecretSyncs does not become a thousand-request retry storm, and a
recovered provider is seen within `backoff_max`.
"""

from __future__ import annotations

import datetime
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from secretloom.api import secretsync as api
from secretloom.controllers.secretsync.naming import version_hash

Random = Callable[[], float]


@dataclass(frozen=True)
class RefreshPolicy:
    jitter: float = 0.1
    backoff_base: float = 1.0
    backoff_max: float = 300.0
    store_revalidate: float = 300.0  # how often a Ready store is validated again


def request_of(annotations: Mapping[str, str] | None) -> str:
    """A short tag of the refresh annotation's value ("" without one); never its text."""
    value = (annotations or {}).get(api.REFRESH_ANNOTATION)
    return "" if value is None else version_hash("refresh", value)


def jittered(seconds: float, fraction: float, rand: Random = random.random) -> float:
    """`seconds` shortened by up to `fraction` of itself, at random."""
    return seconds * (1.0 - fraction * rand())


def rfc3339(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return None


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
    due = parse_time(status.next_refresh_time)
    if due is None or due <= now:
        return None
    return (due - now).total_seconds()
