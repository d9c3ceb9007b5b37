"""Keep the garbage collector off the filled caches (issue 17).

Why: once the informers have listed everything, the process holds millions of
long-lived objects (every cached Secret and SecretSync; 10,000 SecretSyncs
beside 100,000 unrelated Secrets is ~230 MB). CPython's full collection walks
all of them, and measured at a tenth of that size one full collection paused
the event loop for up to 106 ms, several times a run: every change in flight
waited it out, which is what a propagation p99 sees. Those objects are
refcounted and freed as the cache replaces them; they do not need the cycle
collector. `gc.freeze()` moves everything alive at that moment to a
generation the collector never scans, so later collections cover only what
was allocated since.

The cost: a reference cycle among the frozen objects is never collected. The
caches hold plain JSON dicts (no cycles), so the controller process freezes
once its caches are synced; processes that run the controller beside other
code (the in-process tests) leave it off.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)


def freeze() -> None:
    """Collect what is already garbage, then exempt every live object from later scans."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    log.info(
        "froze the heap for the garbage collector",
        extra={
            "objects": gc.get_freeze_count(),
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
