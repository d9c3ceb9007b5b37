"""Hypothesis settings and the one property every fuzz test checks.

The property (issue 10): whatever the input, a parser returns a value or
raises its own error type (`SopsError`, `RenderError`) whose text is one
line; never another exception type (a traceback for the user), never more
than a second for one example.

Profiles, chosen by `HYPOTHESIS_PROFILE`:
* `fast` (default, `make test`): 150 examples a test, so the whole fuzz set
  stays within seconds on the 2-core CI machine.
* `long` (`make chaos`): 5,000 examples a test, about a minute each.
No example database is written: the repository stays clean, and a failure
prints its minimal example (with `@reproduce_failure`) to rerun it.

Under CI (`CI` set, as the CI runner does) the examples are derandomized:
the same examples every run, so a green commit stays green and a red one is
red for a reason in the commit. Developers' runs stay random and keep
exploring; whatever they find is pinned with `@example`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings

_PROFILES = {
    "fast": settings(max_examples=150),
    "long": settings(max_examples=5_000),
}
_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "fast")
if _PROFILE not in _PROFILES:
    raise ValueError(f"HYPOTHESIS_PROFILE={_PROFILE!r}: expected one of {', '.join(_PROFILES)}")

fuzz = settings(
    _PROFILES[_PROFILE],
    deadline=timedelta(seconds=1),
    database=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow],
)


def one_line_or_value(
    call: Callable[[], Any], allowed: type[Exception] | tuple[type[Exception], ...]
) -> Any:
    """`call()`'s value, or None when it raised `allowed` with a one-line message."""
    try:
        return call()
    except allowed as err:
        message = str(err)
    assert message, "an error without a message"
    assert "\n" not in message and "\r" not in message, message
    return None
