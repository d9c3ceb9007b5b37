"""Store entries whose poll runs in the background: last reads stand in, Pending never blanks."""

from __future__ import annotations

import math
from typing import Any

from secretloom.api import secretsync as api
from secretloom.controllers.secretsync import plan as p
from secretloom.controllers.secretsync import refresh
from secretloom.controllers.secretsync.reads import (
    DataFromRead,
    StoreReads,
    assemble,
    carry,
    unreadable,
)
from tests.unit.test_stores_refresh import LABEL_A, LABEL_ALL, spec, synced

ASK = refresh.Ask(2, "")
OK_A = p.Resolved("a", LABEL_A, value="QQ==", version="va")
OK_X = p.Resolved("x", LABEL_ALL, value="WA==", version="vx")
KUBERNETES = {1: p.Resolved("k", "secret/s#k", value="Sw==", version="vk")}


def remembered(expires: float, ask: refresh.Ask = ASK) -> refresh.Remembered:
    return refresh.Remembered(StoreReads({0: OK_A}), ask, expires, "", "")


def test_a_poll_is_due_when_expired_for_another_ask_or_never_read() -> None:
    assert refresh.due(None, ASK, 0.0)
    assert not refresh.due(remembered(10.0), ASK, 5.0)
    assert refresh.due(remembered(10.0), ASK, 10.0)
    assert refresh.due(remembered(math.inf), refresh.Ask(3, ""), 5.0)  # spec changed
    assert refresh.due(remembered(math.inf), refresh.Ask(2, "now"), 5.0)  # refresh annotation
    assert refresh.due(remembered(-math.inf), ASK, 5.0)  # a store changed


def test_carry_keeps_what_was_read_for_the_same_key_and_source() -> None:
    last = StoreReads(
        {0: OK_A},
        (DataFromRead(api.DataFromStatus(source=LABEL_ALL, state="Synced"), keys=(OK_X,)),),
    )
    reads = carry(last, spec(), "ns", [])
    assert reads.entries == {0: OK_A}
    assert reads.data_from == last.data_from
    moved = spec(
        data=[{"key": "a", "from": {"store": {"name": "vault"}, "path": "new", "property": "a"}}]
    )
    pending = carry(last, moved, "ns", []).entries[0]
    assert (pending.key, pending.reason, pending.value) == ("a", p.PENDING, None)
    assert "secretstore/vault:new#a" in pending.message


def test_never_read_entries_are_pending_and_hold_the_first_write() -> None:
    resolved, statuses = assemble(spec(), KUBERNETES, carry(None, spec(), "ns", []), {})
    assert [(r.key, r.reason) for r in resolved] == [("a", p.PENDING), ("k", ""), ("", p.PENDING)]
    assert statuses == []  # no dataFrom status before its first read
    planned = p.plan(_observed(resolved, {"metadata": {"name": "t"}, "data": {}}, {}))
    assert planned.apply is None  # not even the Kubernetes key: never a partial first write
    assert [e.source for e in planned.pending] == [LABEL_A, LABEL_ALL]
    assert planned.problems == []
    assert [k.key for k in planned.keys] == ["k"]  # no status for what was never read
    ready = _ready(planned)
    assert (ready.status, ready.reason) == ("False", p.PENDING)
    assert LABEL_A in ready.message and LABEL_ALL in ready.message


def test_pending_keys_synced_before_keep_their_value_and_status() -> None:
    previous = {"a": synced("a", LABEL_A, "va"), "x": synced("x", LABEL_ALL, "vx")}
    before = [api.DataFromStatus(source=LABEL_ALL, state="Synced", key_count=1)]
    resolved, statuses = assemble(spec(), KUBERNETES, carry(None, spec(), "ns", before), previous)
    assert statuses == before  # the last dataFrom status stays while it is read again
    target = {"metadata": {"name": "t"}, "data": {"a": "QQ==", "x": "WA==", "k": "old"}}
    planned = p.plan(_observed(resolved, target, previous))
    assert planned.pending == []
    assert planned.apply is not None  # the Kubernetes key changed: written, store keys kept
    assert planned.apply["data"] == {"a": "QQ==", "k": "Sw==", "x": "WA=="}
    states = {k.key: k for k in planned.keys}
    assert states["a"] == previous["a"] and states["x"] == previous["x"]
    assert _ready(planned).status == "True"


def test_a_poll_that_crashed_is_an_outage_never_a_wait_forever() -> None:
    reads = unreadable(spec(), "ns", "reading the store failed unexpectedly")
    assert reads.provider_failed
    assert reads.entries[0].reason == "ProviderError"
    assert "entry 'a': reading the store failed" in reads.entries[0].message
    (data_from,) = reads.data_from
    assert data_from.status is not None and data_from.status.state == "ProviderError"


def _observed(
    resolved: list[p.Resolved], target: Any, previous: dict[str, api.KeyStatus]
) -> p.Observed:
    return p.Observed("ns", "sync", "uid", 2, spec(), resolved, target, previous)


def _ready(planned: p.Plan) -> Any:
    return p.conditions(
        generation=2,
        keys=planned.keys,
        problems=planned.problems,
        conflicting={},
        contested=[],
        target_missing=False,
        target_name="t",
        reads_stores=True,
        pending=planned.pending,
    )[0]


def test_the_last_poll_stays_reported_while_the_next_runs_never_vouching_for_another_spec() -> None:
    status = api.SecretSyncStatus(
        observed_generation=2, last_refresh_time="T1", next_refresh_time="T2"
    )
    after_restart = refresh.meanwhile(None, status, ASK, StoreReads({}))  # due: time passed
    assert after_restart is not None
    assert (after_restart.last_refresh, after_restart.next_refresh) == ("T1", "T2")
    assert after_restart.expires == -math.inf
    new_spec = refresh.meanwhile(None, status, refresh.Ask(3, ""), StoreReads({}))
    assert new_spec is not None
    assert (new_spec.last_refresh, new_spec.next_refresh) == ("T1", "")  # nothing to resume
    kept = refresh.Remembered(StoreReads({}), ASK, 5.0, "T3", "T4")
    annotated = refresh.meanwhile(kept, status, refresh.Ask(2, "now"), StoreReads({}))
    assert annotated is not None
    assert (annotated.last_refresh, annotated.next_refresh, annotated.ask) == ("T3", "", ASK)
    assert refresh.meanwhile(None, api.SecretSyncStatus(), ASK, StoreReads({})) is None
