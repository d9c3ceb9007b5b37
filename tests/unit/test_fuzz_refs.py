"""Property-based fuzzing of the render parsers: `ref+`/`<path:>` references, YAML text.

Any input gives a value or a one-line `RenderError`, within a second (see
`tests/unit/fuzzing.py`). Beyond not failing, two properties protect what
reaches the cluster: a substituted manifest is still YAML (a resolved value
can never inject keys), and every reference found is exactly the text it
spans.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from secretloom.render import refs, substitute
from secretloom.render.backends import parse_data
from secretloom.render.errors import RenderError
from secretloom.sops import SopsError, goyaml
from tests.unit.fuzzing import fuzz, one_line_or_value

REF_FRAGMENTS = [
    "ref+", "secretref+", "vault", "sops", "file", "env", "k8s", "exec", "://", "?", "#", "/",
    "#/", "+", " ", "\n", "\t", "<path:", ">", "<", "%", "%2F", "&", "=", "store=", "version=",
    "address=", "token_env=", "|", "~0", "~1", "secret/data/app", "..", "ARGOCD_ENV_X", "\x00",
]  # fmt: skip
YAML_FRAGMENTS = [
    "\n", "  ", "- ", ": ", "k", "kind: Secret\n", "data:\n", "stringData:\n", "&a ", "*a", "[",
    "]", "{", "}", ", ", "'", '"', "#", "---\n", "|\n", ">-\n", "? ", "\t", "ENC[AES256_GCM,",
]  # fmt: skip
REF_TEXT = st.lists(st.sampled_from(REF_FRAGMENTS) | st.text(max_size=6), max_size=40).map("".join)
YAML_TEXT = st.lists(
    st.sampled_from(REF_FRAGMENTS + YAML_FRAGMENTS) | st.text(max_size=6), max_size=60
).map("".join)
VALUES = st.text(max_size=20) | st.integers() | st.booleans() | st.none()


# Explicit examples: inputs that broke the code before (each one fails it), kept
# so every run checks them whatever the random examples are.
NEWLINE_IN_PLACEHOLDER = "x: <path:secret/data/a\nb#key|base64encode>"
DEEP_YAML = "k: " + "[" * 400 + "]" * 400 + "\n"  # the pure-Python composer recursed per level


@fuzz
@example(NEWLINE_IN_PLACEHOLDER)
@given(REF_TEXT)
def test_references_parse_or_fail_in_one_line(text: str) -> None:
    found = one_line_or_value(lambda: refs.find(text), RenderError)
    for occurrence in found or ():
        spanned = text[occurrence.start : occurrence.end]
        assert spanned.startswith(("ref+", "secretref+", "<path:")), spanned
        assert "\n" not in occurrence.ref.display


def _values(found: list[refs.Ref], drawn: list[object]) -> dict[refs.Ref, object]:
    return {ref: drawn[i % len(drawn)] for i, ref in enumerate(found)}


@fuzz
@example(NEWLINE_IN_PLACEHOLDER, ["v"])
@given(REF_TEXT, st.lists(VALUES, min_size=1, max_size=4))
def test_substitution_gives_a_value_or_one_line(text: str, drawn: list[object]) -> None:
    found = one_line_or_value(lambda: refs.find(text), RenderError) or []
    values = _values([o.ref for o in found], drawn)
    one_line_or_value(lambda: refs.substitute(text, values), RenderError)


@fuzz
@example(DEEP_YAML + "v: ref+env://ARGOCD_ENV_X\n", ["v"])
@example("\U00010000ref+vault://ref+", [None])  # found by the long profile: YAML has no surrogates
@given(YAML_TEXT, st.lists(VALUES, min_size=1, max_size=4))
def test_substituted_yaml_stays_yaml(text: str, drawn: list[object]) -> None:
    document = one_line_or_value(lambda: substitute.YamlText(text, name="f.yaml"), RenderError)
    if document is None:
        return
    values = _values(document.references(), drawn)
    rendered = one_line_or_value(lambda: document.render(values), RenderError)
    if rendered is not None and one_line_or_value(lambda: goyaml.compose(text), SopsError):
        goyaml.compose(rendered)  # still parses: each value became one scalar, nothing more


@fuzz
@example(DEEP_YAML, "f.yaml")
@example("[" * 5_000 + "]" * 5_000, "f.json")
@given(YAML_TEXT, st.sampled_from(["f.yaml", "f.json"]))
def test_ref_file_targets_parse_or_fail_in_one_line(text: str, name: str) -> None:
    ref = refs.Ref("file", name, ("k",))
    one_line_or_value(lambda: parse_data(text, Path(name), ref), RenderError)
