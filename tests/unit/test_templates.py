"""Template keys (issue 14): rendered from this SecretSync's values only, errors without values."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pydantic import ValidationError

from secretloom.api import secretsync as api
from secretloom.controllers.secretsync import plan as p
from secretloom.controllers.secretsync import templates as t

CANARY = "canary-tpl-5b1e-do-not-leak"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def spec(*templates: tuple[str, str], **extra: Any) -> api.SecretSyncSpec:
    return api.SecretSyncSpec.model_validate(
        {
            "target": {"name": "t"},
            "data": [
                {"key": "user", "from": {"secret": "s", "key": "user"}},
                {"key": "db-password", "from": {"secret": "s", "key": "pw"}},
            ],
            "templates": [{"key": k, "template": v} for k, v in templates],
            **extra,
        }
    )


USER = p.Resolved("user", "secret/s#user", value=b64("app"), version="v1")
PASSWORD = p.Resolved("db-password", "secret/s#pw", value=b64("p@ss/" + CANARY), version="v2")
DSN = "postgres://{{ data.user }}:{{ data['db-password']|urlquote }}@db:5432/app"


def rendered(*templates: tuple[str, str], inputs: list[p.Resolved] | None = None) -> p.Resolved:
    out = t.render_all(spec(*templates), inputs if inputs is not None else [USER, PASSWORD])
    return out[-1]


def test_a_dsn_is_rendered_from_two_values_and_appended_as_a_key() -> None:
    out = t.render_all(spec(("dsn", DSN)), [USER, PASSWORD])
    assert [r.key for r in out] == ["user", "db-password", "dsn"]
    dsn = out[-1]
    assert dsn.value is not None and dsn.source == "template"
    password = "p%40ss%2F" + CANARY
    assert base64.b64decode(dsn.value).decode() == f"postgres://app:{password}@db:5432/app"


def test_a_dockerconfigjson_is_built_with_tojson_and_b64encode() -> None:
    source = (
        '{{ {"auths": {"registry.example": {"auth": '
        '(data.user ~ ":" ~ data["db-password"])|b64encode}}}|tojson }}'
    )
    out = rendered((".dockerconfigjson", source))
    assert out.value is not None
    auths = json.loads(base64.b64decode(out.value))["auths"]["registry.example"]
    assert base64.b64decode(auths["auth"]).decode() == "app:p@ss/" + CANARY


def test_the_version_follows_the_inputs_and_the_text_never_the_value() -> None:
    first = rendered(("dsn", DSN))
    rotated = p.Resolved("db-password", "secret/s#pw", value=b64("new"), version="v3")
    second = rendered(("dsn", DSN), inputs=[USER, rotated])
    other_text = rendered(("dsn", DSN + "?sslmode=require"))
    assert len({first.version, second.version, other_text.version}) == 3
    assert CANARY not in first.version


@pytest.mark.parametrize(
    ("source", "line", "says"),
    [
        ("{{ data.user }}\n{% for c in data.user %}{% endfor %}", 2, "for is not allowed"),
        ("{{ data.user.upper() }}", 1, "call is not allowed"),
        ("{{ lipsum() }}", 1, "call is not allowed"),
        ("{{ range(9) }}", 1, "call is not allowed"),
        ("{% include 'etc/passwd' %}", 1, "include is not allowed"),
        ("{% import 'x' as y %}", 1, "import is not allowed"),
        ("{% set a = data.user %}", 1, "assign is not allowed"),
        ("{% macro m() %}{% endmacro %}", 1, "macro is not allowed"),
        ("{{ data.user * 99999999 }}", 1, "mul is not allowed"),
        ("{{ '%9999999s' % data.user }}", 1, "mod is not allowed"),
        ("\n\n{{ data[data.user] }}", 3, "with a literal key"),
        ("{{ data.user.__class__ }}", 1, "with a literal key"),
        ("{{ config }}", 1, "unknown name 'config'"),
        ("{{ environ }}", 1, "unknown name 'environ'"),
        ("{{ data.user|attr('x') }}", 1, "filter 'attr' is not allowed"),
        ("{{ data.user|center(999999999) }}", 1, "filter 'center' is not allowed"),
        ("a\n{{ data.user }\n", 2, "unexpected '}'"),
    ],
)
def test_a_template_reaching_beyond_its_inputs_is_refused_with_its_line(
    source: str, line: int, says: str
) -> None:
    out = rendered(("dsn", source))
    assert out.value is None and out.reason == t.TEMPLATE_ERROR
    assert out.message.startswith(f"template 'dsn': line {line}: ")
    assert says in out.message


def test_a_runtime_error_names_the_line_and_the_kind_never_the_value() -> None:
    out = rendered(("cfg", "host=db\nport={{ data['db-password'] > 3 }}"))
    assert out.reason == t.TEMPLATE_ERROR
    assert out.message == "template 'cfg': line 2: rendering failed (TypeError)"


def test_a_key_that_is_not_a_value_of_this_sync_is_refused() -> None:
    out = rendered(("dsn", "{{ data.other }}"))
    assert out.reason == t.TEMPLATE_ERROR
    assert "'other' is not a key of this SecretSync" in out.message


def test_output_and_filter_results_are_bounded() -> None:
    big = p.Resolved("user", "secret/s#user", value=b64("%" * (t.MAX_OUTPUT // 2)), version="v")
    out = rendered(("x", "{{ data.user|urlquote }}"), inputs=[big, PASSWORD])
    assert out.reason == t.TEMPLATE_ERROR and "filter result exceeds" in out.message
    out = rendered(("x", "{{ data.user }}{{ data.user }}{{ data.user }}"), inputs=[big, PASSWORD])
    assert out.reason == t.TEMPLATE_ERROR and "output exceeds" in out.message
    many = "".join("{{ data.user|upper }}" for _ in range(t.MAX_STEPS // 2 + 1))
    assert "more than 32 lookups and filters" in rendered(("x", many)).message


def test_a_template_waits_for_a_pending_input_and_inherits_a_missing_one() -> None:
    pending = p.Resolved("db-password", "s", reason=p.PENDING, message="waiting")
    out = rendered(("dsn", DSN), inputs=[USER, pending])
    assert out.value is None and out.reason == p.PENDING
    missing = p.Resolved("db-password", "s", reason="ProviderError", kind="Unavailable")
    out = rendered(("dsn", DSN), inputs=[USER, missing])
    assert (out.reason, out.kind) == ("ProviderError", "Unavailable")
    assert "input 'db-password' has no value" in out.message


def test_an_input_from_a_datafrom_path_not_read_yet_waits_instead_of_failing() -> None:
    unread = p.Resolved("", "secretstore/v:app#*", reason=p.PENDING, message="waiting")
    out = rendered(("dsn", "{{ data.host }}"), inputs=[USER, PASSWORD, unread])
    assert out.reason == p.PENDING and "secretstore/v:app#*" in out.message


def test_an_input_that_is_not_text_is_refused_by_key() -> None:
    binary = p.Resolved("user", "s", value=base64.b64encode(b"\xff\xfe").decode(), version="v")
    out = rendered(("dsn", DSN), inputs=[binary, PASSWORD])
    assert out.message == "template 'dsn': input 'user' is not UTF-8 text"


def test_a_template_key_replaces_a_datafrom_key_of_its_name() -> None:
    from_store = p.Resolved("dsn", "secretstore/v:app#*", value=b64("old"), version="v")
    out = t.render_all(spec(("dsn", DSN)), [USER, PASSWORD, from_store])
    assert [r.source for r in out if r.key == "dsn"] == ["template"]


def test_the_plan_keeps_the_last_good_value_when_a_template_breaks() -> None:
    observed = p.Observed(
        "ns",
        "sync",
        "uid",
        2,
        spec(("dsn", "{{ data.nope }}")),
        t.render_all(spec(("dsn", "{{ data.nope }}")), [USER, PASSWORD]),
        {"metadata": {"name": "t"}, "type": "Opaque", "data": {"dsn": b64("kept")}},
        {"dsn": api.KeyStatus(key="dsn", source="template", source_version="x")},
    )
    planned = p.plan(observed)
    assert planned.desired["dsn"] == b64("kept")
    ready = p.conditions(
        generation=2,
        keys=planned.keys,
        problems=planned.problems,
        conflicting={},
        contested=[],
        target_missing=False,
        target_name="t",
    )[0]
    assert (ready.status, ready.reason) == ("False", t.TEMPLATE_ERROR)
    assert "template 'dsn'" in ready.message


def test_a_template_key_may_not_shadow_a_data_key() -> None:
    with pytest.raises(ValidationError, match=r"must not also be a key of spec\.data"):
        spec(("user", "x"))
