"""runtime/heap.py: the synced caches are exempt from the collector's later scans."""

from __future__ import annotations

import gc

from secretloom.runtime import heap


def test_freeze_moves_live_objects_out_of_the_collectors_reach() -> None:
    cached = [{"metadata": {"name": f"s{i}"}} for i in range(1000)]  # like a cache's dicts
    try:
        heap.freeze()
        assert gc.get_freeze_count() >= len(cached)
        scanned = {id(o) for o in gc.get_objects()}  # what a collection would walk
        assert not any(id(o) in scanned for o in cached)
    finally:
        gc.unfreeze()  # this process runs other tests: back to normal collection
    assert gc.get_freeze_count() == 0
