"""bench/fanin.py and `bench/floor.py --coalesce`: the bookkeeping, on hand-made objects."""

from __future__ import annotations

import json
from typing import cast

from bench import workload
from bench.fanin import OWNERS_ANNOTATION, Change, FanInWatch, owners_right
from bench.floor import Coalescer

from secretloom.runtime.kube import KubeClient, Obj

NS = "fanin-test"
NO_CLIENT = cast(KubeClient, None)  # nothing here talks to a server


def value(i: int, seq: int) -> str:
    return workload.b64(f"{i}-{seq:09d}-xxxx")


def target(data: dict[str, str], **meta: object) -> Obj:
    return {"metadata": {"name": "tgt-0000", "namespace": NS, **meta}, "data": data}


def test_a_later_value_delivers_the_changes_it_overtook_and_only_those() -> None:
    watch = FanInWatch(NO_CLIENT, NS)
    watch.initial([])  # what start() does with its list
    changes = [Change("k-0000", seq, due_at=0.0) for seq in (5, 7, 9)]
    for change in changes:
        watch.track(change)
    watch.on_event(target({"k-0000": value(0, 7), "k-0001": value(1, 8)}), now=2.0)
    assert [(c.seen_at, c.exact) for c in changes] == [(2.0, False), (2.0, True), (None, False)]
    assert watch.undelivered == 1
    assert watch.count == 1
    watch.on_event({"metadata": {"name": workload.SENTINEL}}, now=3.0)
    assert watch.count == 1  # the barrier's pings are not target writes


def test_owners_come_from_the_annotation_when_there_is_one_else_from_managed_fields() -> None:
    layout = workload.Layout(NS, 2, 1)
    data = {"k-0000": value(0, 1), "k-0001": value(1, 2)}
    record = {"k-0000": "sync-0000", "k-0001": "sync-0000"}  # k-0001 attributed wrongly
    aggregated = target(data, annotations={OWNERS_ANNOTATION: json.dumps(record)})
    assert owners_right(aggregated, layout, "after") == 1

    def entry(manager: str, key: str) -> Obj:
        fields: Obj = {"f:data": {f"f:{key}": {}}}
        return {"manager": manager, "operation": "Apply", "fieldsV1": fields}

    managed = [entry(f"secretloom/{NS}/sync-0000", "k-0000"), entry("someone", "k-0001")]
    assert owners_right(target(data, managedFields=managed), layout, "before") == 1
    assert owners_right(target(data), layout, "coalesce") is None


def test_the_coalescer_keeps_every_key_of_a_target_and_skips_what_did_not_change() -> None:
    layout = workload.Layout(NS, 2, 1)
    coalescer = Coalescer(NO_CLIENT, NS, layout.mapping())

    def source(i: int, seq: int) -> Obj:
        return {"metadata": {"name": layout.source(i)}, "data": {"value": value(i, seq)}}

    assert coalescer.note(source(0, 1)) == "tgt-0000"
    assert coalescer.note(source(1, 2)) == "tgt-0000"
    assert coalescer.note(source(1, 2)) is None  # same value: nothing to write
    assert coalescer.note({"metadata": {"name": "unrelated"}, "data": {}}) is None
    assert coalescer._data["tgt-0000"] == {"k-0000": value(0, 1), "k-0001": value(1, 2)}
