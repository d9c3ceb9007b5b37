"""Refresh timing, resuming after a restart, and assembling store results: pure rules."""

from __future__ import annotations

import datetime
import math
from typing import Any

from secretloom.api import secretsync as api
from secretloom.controllers.refresh import jittered
from secretloom.controllers.secretsync import plan as p
from secretloom.controllers.secretsync import refresh
from secretloom.controllers.secretsync.reads import (
    DataFromRead,
    StoreReads,
    assemble,
    resume,
)

NOW = datetime.datetime(2030, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
LABEL_A = "secretstore/vault:app#a"
LABEL_ALL = "secretstore/vault:all#*"


def spec(**extra: Any) -> api.SecretSyncSpec:
    return api.SecretSyncSpec.model_validate(
        {
            "target": {"name": "t"},
            "data": [
                {"key": "a", "from": {"store": {"name": "vault"}, "path": "app", "property": "a"}},
                {"key": "k", "from": {"secret": "s", "key": "k"}},
            ],
            "dataFrom": [{"store": {"name": "vault"}, "path": "all"}],
            **extra,
        }
    )


def synced(key: str, source: str, version: str = "v1") -> api.KeyStatus:
    return api.KeyStatus(key=key, source=source, source_version=version)


def status(**fields: Any) -> api.SecretSyncStatus:
    base = {
        "observed_generation": 2,
        "last_refresh_time": "2030-01-01T11:30:00Z",
        "next_refresh_time": "2030-01-01T12:20:00Z",
        "refresh_request": "",
    }
    return api.SecretSyncStatus(**{**base, **fields})


def test_jitter_only_ever_shortens_by_up_to_the_fraction() -> None:
    assert jittered(100.0, 0.1, rand=lambda: 0.0) == 100.0
    assert jittered(100.0, 0.1, rand=lambda: 0.999999) > 90.0
    spread = {round(jittered(3600.0, 0.1), 3) for _ in range(1000)}
    assert len(spread) > 900 and min(spread) >= 3240.0 and max(spread) <= 3600.0


def test_the_refresh_request_is_a_tag_never_the_text() -> None:
    assert refresh.request_of(None) == ""
    tag = refresh.request_of({api.REFRESH_ANNOTATION: "2030-01-01"})
    assert len(tag) == 16 and "2030" not in tag
    assert tag != refresh.request_of({api.REFRESH_ANNOTATION: "2030-01-02"})


def test_the_status_vouches_only_for_its_generation_request_and_time() -> None:
    def window(s: api.SecretSyncStatus, request: str = "", interval: float = 3600.0) -> Any:
        return refresh.resume_window(s, generation=2, request=request, interval=interval, now=NOW)

    assert window(status()) == 20 * 60
    assert window(status(), interval=0) == math.inf
    assert window(status(observed_generation=1)) is None
    assert window(status(), request="new") is None
    assert window(status(last_refresh_time="")) is None  # never polled successfully
    assert window(status(next_refresh_time="2030-01-01T11:59:59Z")) is None  # due


def test_resume_rebuilds_the_last_poll_from_the_target() -> None:
    previous = {
        "a": synced("a", LABEL_A, "va"),
        "x": synced("x", LABEL_ALL, "vx"),
        "k": synced("k", "secret/s#k"),
    }
    data_from = [api.DataFromStatus(source=LABEL_ALL, state="Synced", key_count=1)]
    target = {"data": {"a": "QQ==", "x": "WA==", "k": "Sw=="}}
    reads = resume(spec(), "ns", previous, data_from, target)
    assert reads is not None
    assert reads.entries[0] == p.Resolved("a", LABEL_A, value="QQ==", version="va")
    assert reads.data_from[0].keys == (p.Resolved("x", LABEL_ALL, value="WA==", version="vx"),)
    # A store key missing from the target, or not Synced: poll instead.
    assert resume(spec(), "ns", previous, data_from, {"data": {"a": "QQ=="}}) is None
    errored = {**previous, "a": previous["a"].model_copy(update={"state": "ProviderError"})}
    assert resume(spec(), "ns", errored, data_from, target) is None
    assert resume(spec(), "ns", previous, [], target) is None


def test_assemble_lets_data_win_and_a_failed_data_from_keep_its_keys() -> None:
    kubernetes = {1: p.Resolved("k", "secret/s#k", value="Sw==", version="vk")}
    store_a = p.Resolved("a", LABEL_A, value="QQ==", version="va")
    failure = p.Resolved("", LABEL_ALL, reason="ProviderError", kind="Unavailable", message="down")
    failed = DataFromRead(
        api.DataFromStatus(source=LABEL_ALL, state="ProviderError", message="down"),
        failure=failure,
    )
    previous = {"x": synced("x", LABEL_ALL), "a": synced("a", LABEL_A)}
    resolved, statuses = assemble(spec(), kubernetes, StoreReads({0: store_a}, (failed,)), previous)
    assert [r.key for r in resolved] == ["a", "k", "x"]
    assert resolved[2].reason == "ProviderError" and resolved[2].value is None
    assert statuses[0].key_count == 1

    ok = DataFromRead(
        api.DataFromStatus(source=LABEL_ALL, state="Synced"),
        keys=(p.Resolved("a", LABEL_ALL, value="eg=="), p.Resolved("y", LABEL_ALL, value="eQ==")),
    )
    resolved, statuses = assemble(spec(), kubernetes, StoreReads({0: store_a}, (ok,)), {})
    assert [(r.key, r.source) for r in resolved] == [
        ("a", LABEL_A),
        ("k", "secret/s#k"),
        ("y", LABEL_ALL),
    ]
    assert statuses[0].key_count == 1


def test_a_provider_error_keeps_the_value_and_says_so() -> None:
    down = p.Resolved("a", LABEL_A, reason="ProviderError", kind="Unavailable", message="down")
    observed = p.Observed(
        "ns",
        "sync",
        "uid",
        2,
        spec(),
        [down],
        {"metadata": {"name": "t"}, "type": "Opaque", "data": {"a": "QQ=="}},
        {"a": synced("a", LABEL_A)},
    )
    planned = p.plan(observed)
    assert planned.apply is None
    (key,) = planned.keys
    assert (key.state, key.source_version) == ("ProviderError", "v1")
    assert key.message == "down; the last synced value is kept"
    conditions = {
        c.type: c
        for c in p.conditions(
            generation=2,
            keys=planned.keys,
            problems=planned.problems,
            conflicting={},
            contested=[],
            target_missing=False,
            target_name="t",
            reads_stores=True,
        )
    }
    assert conditions["ProviderError"].status == "True"
    assert conditions["ProviderError"].reason == "Unavailable"
    assert conditions["Ready"].reason == "ProviderError"
    without_stores = p.conditions(
        generation=2,
        keys=[],
        problems=[],
        conflicting={},
        contested=[],
        target_missing=False,
        target_name="t",
    )
    assert {c.type for c in without_stores} == set(p.CONDITION_TYPES)
