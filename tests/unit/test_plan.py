"""The pure planning rules of a SecretSync, without a cluster."""

from __future__ import annotations

from typing import Any

from secretloom.api import secretsync as api
from secretloom.controllers.secretsync import plan as p
from secretloom.controllers.secretsync.naming import MAX_LENGTH, field_manager
from secretloom.runtime.kube import ApiError


def spec(**target: Any) -> api.SecretSyncSpec:
    return api.SecretSyncSpec.model_validate(
        {
            "target": {"name": "t", **target},
            "data": [
                {"key": "a", "from": {"secret": "s", "key": "a"}},
                {"key": "b", "from": {"secret": "s", "key": "b"}},
            ],
        }
    )


def observed(
    resolved: list[p.Resolved],
    target: dict[str, Any] | None,
    previous: dict[str, api.KeyStatus] | None = None,
    **target_opts: Any,
) -> p.Observed:
    return p.Observed(
        "ns", "sync", "uid-1", 3, spec(**target_opts), resolved, target, previous or {}
    )


def secret(data: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": "t", **extra}, "type": "Opaque", "data": data}


OK_A = p.Resolved("a", "secret/s#a", value="QQ==", version="v1")
OK_B = p.Resolved("b", "secret/s#b", value="Qg==", version="v1")
MISSING_B = p.Resolved("b", "secret/s#b", reason="SourceMissing", message="key 'b' not found")


def synced(key: str, version: str = "v1") -> api.KeyStatus:
    return api.KeyStatus(key=key, source=f"secret/s#{key}", source_version=version)


def test_nothing_to_write_when_the_target_already_holds_every_value() -> None:
    planned = p.plan(observed([OK_A, OK_B], secret({"a": "QQ==", "b": "Qg==", "other": "eA=="})))
    assert planned.apply is None


def test_apply_lists_only_our_keys_never_another_writers() -> None:
    planned = p.plan(observed([OK_A, OK_B], secret({"a": "old", "other": "eA=="})))
    assert planned.apply is not None
    assert planned.apply["data"] == {"a": "QQ==", "b": "Qg=="}
    assert planned.apply["metadata"] == {"name": "t", "namespace": "ns"}


def test_missing_source_keeps_last_known_good_and_never_blanks() -> None:
    target = secret({"a": "QQ==", "b": "good"})
    planned = p.plan(observed([OK_A, MISSING_B], target, {"a": synced("a"), "b": synced("b")}))
    assert planned.apply is None  # kept as is: no removal
    assert planned.desired == {"a": "QQ==", "b": "good"}
    states = {k.key: (k.state, k.source_version) for k in planned.keys}
    assert states["b"] == ("SourceMissing", "v1")


def test_missing_source_never_synced_is_simply_absent() -> None:
    planned = p.plan(observed([OK_A, MISSING_B], secret({})))
    assert planned.apply is not None
    assert planned.apply["data"] == {"a": "QQ=="}


def test_dropped_entry_triggers_a_write_that_omits_it() -> None:
    target = secret({"a": "QQ==", "b": "Qg==", "gone": "eA=="})
    previous = {"a": synced("a"), "b": synced("b"), "gone": synced("gone")}
    planned = p.plan(observed([OK_A, OK_B], target, previous))
    assert planned.apply is not None
    assert "gone" not in planned.apply["data"]


def test_a_conflicting_key_we_never_owned_is_not_ours_to_remove() -> None:
    target = secret({"a": "QQ==", "b": "Qg==", "c": "theirs"})
    conflict = api.KeyStatus(key="c", source="secret/s#c", state="Conflict")
    planned = p.plan(observed([OK_A, OK_B], target, {"a": synced("a"), "c": conflict}))
    assert planned.apply is None


def test_drift_is_a_changed_value_with_an_unchanged_source_version() -> None:
    planned = p.plan(
        observed(
            [OK_A, OK_B], secret({"a": "edited", "b": "Qg=="}), {"a": synced("a"), "b": synced("b")}
        )
    )
    assert planned.drift_keys == {"a"}
    source_changed = p.plan(
        observed(
            [OK_A, OK_B],
            secret({"a": "old", "b": "Qg=="}),
            {"a": synced("a", "v0"), "b": synced("b")},
        )
    )
    assert source_changed.drift_keys == frozenset()


def test_missing_target_waits_or_is_created() -> None:
    waiting = p.plan(observed([OK_A], None, create_if_missing=False))
    assert waiting.target_missing
    assert waiting.apply is None
    created = p.plan(observed([OK_A], None))
    assert created.apply is not None
    assert created.apply["type"] == "Opaque"


def test_adopting_owner_policy_adds_a_controller_owner_reference() -> None:
    planned = p.plan(
        observed(
            [OK_A, OK_B], secret({"a": "QQ==", "b": "Qg=="}), creation_policy="Owner", adopt=True
        )
    )
    assert planned.apply is not None
    (ref,) = planned.apply["metadata"]["ownerReferences"]
    assert ref["uid"] == "uid-1"
    assert ref["controller"] is True


def test_type_is_left_alone_when_another_writer_set_a_different_one() -> None:
    tls = secret({}) | {"type": "kubernetes.io/tls"}
    planned = p.plan(observed([OK_A, OK_B], tls))
    assert planned.apply is not None
    assert "type" not in planned.apply


def test_empty_data_is_never_applied_as_an_empty_map() -> None:
    body = p.target_body(observed([], secret({})), {}, owned=False)
    assert "data" not in body


def test_conditions_always_carry_all_five_types() -> None:
    conditions = p.conditions(
        generation=3,
        keys=[],
        problems=[MISSING_B],
        conflicting={"c": "helm"},
        contested=[],
        target_missing=False,
        target_name="t",
    )
    by_type = {c.type: c for c in conditions}
    assert set(by_type) == set(p.CONDITION_TYPES)
    assert by_type["Conflict"].status == "True"
    assert "'helm'" in by_type["Conflict"].message
    assert by_type["Ready"].status == "False"
    assert by_type["Ready"].reason == "Conflict"
    assert all(c.observed_generation == 3 for c in conditions)


def test_conflicts_are_read_from_the_apply_409() -> None:
    err = ApiError(
        409,
        "Conflict",
        "Apply failed with 2 conflicts",
        {
            "details": {
                "causes": [
                    {
                        "reason": "FieldManagerConflict",
                        "message": 'conflict with "helm"',
                        "field": ".data",
                    },
                    {
                        "reason": "FieldManagerConflict",
                        "message": 'conflict with "secretloom/ns/other" using v1',
                        "field": ".data.tok.en",
                    },
                ]
            }
        },
    )
    assert p.conflicts_of(err) == {".data": "helm", "tok.en": "secretloom/ns/other"}


def test_field_manager_names_are_readable_and_bounded() -> None:
    assert field_manager("argocd", "grafana-token") == "secretloom/argocd/grafana-token"
    long = field_manager("n" * 63, "x" * 253)
    assert len(long) == MAX_LENGTH
    assert long.startswith("secretloom/nnn")
    assert long != field_manager("n" * 63, "x" * 252 + "y")
