"""Reference syntax (vals and argocd-vault-plugin) and in-place substitution."""

from __future__ import annotations

import base64

import pytest
import yaml

from secretloom.render import refs
from secretloom.render.errors import RenderError
from secretloom.render.refs import Ref
from secretloom.render.substitute import YamlText


def test_vals_reference_with_pointer_and_store() -> None:
    (found,) = refs.find("ref+vault://secret/app?store=prod&version=3#/db/pass~1word")
    assert found.ref == Ref(
        "vault", "secret/app", ("db", "pass/word"), (("store", "prod"), ("version", "3"))
    )
    assert found.ref.display == "ref+vault://secret/app#/db/pass/word"


def test_several_references_in_one_string_end_at_plus_or_space() -> None:
    text = "postgres://ref+env://ARGOCD_ENV_U+:ref+env://ARGOCD_ENV_P+@db x ref+file://a.txt"
    found = [o.ref.path for o in refs.find(text)]
    assert found == ["ARGOCD_ENV_U", "ARGOCD_ENV_P", "a.txt"]
    values = {o.ref: v for o, v in zip(refs.find(text), ["u", "p", "f"], strict=True)}
    assert refs.substitute(text, values) == "postgres://u:p@db x f"


def test_avp_placeholder_with_version() -> None:
    (found,) = refs.find("<path:secret/data/app#password#2>")
    assert found.ref == Ref(
        "vault", "secret/data/app", ("password",), (("version", "2"),), avp=True
    )
    assert found.ref.display == "<path:secret/data/app#password#2>"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("ref+awskms://x", "unknown backend"),
        ("ref+vault://#/x", "no path"),
        ("ref+vault://a#x", "JSON pointer"),
        ("ref+vault://a?address=http://evil#/x", "address are not allowed"),
        ("ref+env://X?foo=1", "foo are not allowed"),
        ("<path:secret/data/a#k | base64encode>", "modifiers are not supported"),
    ],
)
def test_malformed_or_refused_references(text: str, why: str) -> None:
    with pytest.raises(RenderError, match=why):
        refs.find(text)


def test_errors_never_show_a_query() -> None:
    with pytest.raises(RenderError) as err:
        refs.find("ref+vault://a?token=hunter2&x=1#/k")
    assert "hunter2" not in str(err.value)


def test_whole_string_reference_keeps_the_value_type() -> None:
    ref = Ref("sops", "s.yaml")
    assert refs.substitute("ref+sops://s.yaml", {ref: {"a": 1}}) == {"a": 1}
    with pytest.raises(RenderError, match="cannot be embedded"):
        refs.substitute("x ref+sops://s.yaml", {ref: {"a": 1}})


def test_yaml_text_changes_only_the_scalars_with_references() -> None:
    text = (
        "# keep me\nkind: Secret\nflag: yes\nmode: 0777\n"
        "data:\n  token: ref+env://ARGOCD_ENV_T\nstringData:\n  block: |\n    ref+env://ARGOCD_ENV_T\n"
        "list: [a, 'ref+env://ARGOCD_ENV_T']\n"
    )
    document = YamlText(text, name="s.yaml")
    (ref,) = set(document.references())
    rendered = document.render({ref: 'v"1'})
    assert rendered.startswith("# keep me\nkind: Secret\nflag: yes\nmode: 0777\n")
    data = yaml.safe_load(rendered)
    assert base64.b64decode(data["data"]["token"]).decode() == 'v"1'
    assert data["stringData"]["block"] == 'v"1\n'  # a literal block keeps its newline
    assert data["list"] == ["a", 'v"1']


def test_yaml_text_without_references_is_returned_untouched() -> None:
    text = "a: 1\n---\nb: [2]\n"
    document = YamlText(text, name="x")
    assert document.references() == [] and document.render({}) == text
