"""Kubernetes times: what the controller writes parses back; what it cannot read is None."""

from __future__ import annotations

import datetime

from secretloom.api import kubetime


def test_time_and_micro_time_round_trip_in_utc() -> None:
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.UTC)
    assert kubetime.format_time(moment) == "2026-01-02T03:04:05Z"
    assert kubetime.format_micro_time(moment) == "2026-01-02T03:04:05.123456Z"
    assert kubetime.parse(kubetime.format_time(moment)) == moment.replace(microsecond=0)
    assert kubetime.parse(kubetime.format_micro_time(moment)) == moment
    parsed = kubetime.parse(kubetime.now())
    assert parsed is not None and parsed.tzinfo is not None


def test_anything_else_is_none() -> None:
    for text in ("", "soon", "2026-01-02", "2026-01-02T03:04:05"):
        assert kubetime.parse(text) is None, text
