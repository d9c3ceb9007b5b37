"""How often controllers look at the outside world again: intervals, jitter and backoff.

Shared by both reconcilers, so it lives above them: a SecretStore is
re-validated and a SecretSync re-polls its stores on the same policy, and
neither controller package imports the other (import-linter checks that
`secretstore` never reaches into `secretsync`, issue 11).

Jitter: each interval is shortened by a random fraction (up to `jitter`, 10%
by default), so objects created together drift apart instead of calling a
store in lockstep forever (External Secrets' refresh storms). Backoff after a
provider failure starts at `backoff_base` and doubles to `backoff_max`, so an
outage of a store used by a thousand objects does not become a
thousand-request retry storm, and a recovered store is seen within
`backoff_max`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

Random = Callable[[], float]


@dataclass(frozen=True)
class RefreshPolicy:
    jitter: float = 0.1
    backoff_base: float = 1.0
    backoff_max: float = 300.0
    store_revalidate: float = 300.0  # how often a Ready store is validated again


def jittered(seconds: float, fraction: float, rand: Random = random.random) -> float:
    """`seconds` shortened by up to `fraction` of itself, at random."""
    return seconds * (1.0 - fraction * rand())
