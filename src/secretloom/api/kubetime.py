"""Kubernetes times as the API writes them: the one place they are formatted and parsed.

`metav1.Time` is RFC 3339 in UTC to the second (`2026-01-02T03:04:05Z`: status
conditions, `lastRefreshTime`, `nextRefreshTime`); `metav1.MicroTime` adds
microseconds (`…05.123456Z`: Lease `renewTime`, Event `eventTime`). Issue 11
found these formats written out in four modules and parsed in three; they
live here, in `api/`, because the status models are where the times are
shown and every layer may import `api`.

SOPS's own timestamps (`sops/gotext.py`) are Go's `time.Time` text, a
different format with its own rules, and stay with the SOPS engine.
"""

from __future__ import annotations

import datetime

_TIME = "%Y-%m-%dT%H:%M:%SZ"
_MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_time(moment: datetime.datetime) -> str:
    """`metav1.Time` of a UTC moment."""
    return moment.strftime(_TIME)


def format_micro_time(moment: datetime.datetime) -> str:
    """`metav1.MicroTime` of a UTC moment."""
    return moment.strftime(_MICRO_TIME)


def now() -> str:
    """`metav1.Time` of now."""
    return format_time(datetime.datetime.now(datetime.UTC))


def micro_now() -> str:
    """`metav1.MicroTime` of now."""
    return format_micro_time(datetime.datetime.now(datetime.UTC))


def parse(text: str) -> datetime.datetime | None:
    """A `Time` or `MicroTime` (or any RFC 3339 time with a zone) as an aware datetime.

    None for anything else, the empty string included: a time someone else
    wrote into a status is input, not a promise.
    """
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
