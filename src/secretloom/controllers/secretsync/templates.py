"""Template keys: a value rendered from the values this SecretSync already resolved (issue 14).

A DSN, a config file or a `.dockerconfigjson` is built from several values
(seed 002's Vault Agent templates). The engine is Jinja2's sandbox, not a
hand-written one; what a template may do is narrowed further, statically,
before it ever runs, because External Secrets' templates could read any
Secret of the cluster (`getSecretKey`, the cross-namespace CVE class) and a
template shares the controller with every other tenant:

* Its only variable is `data`, and `data.<key>` / `data['<key>']` must name a
  key literally: the inputs are known before rendering, every one must be a
  value of this SecretSync (a `spec.data` key or a `dataFrom` property), and a
  lookup can never be computed from a value (so no error text can carry one).
  There are no globals, no loader (no include, import, extends), no
  environment, no method calls, no attribute access on anything else.
* No loops, macros, call blocks, `set` or arithmetic: a template is a single
  pass over its text, so it cannot spin or double a string until memory runs
  out; filters come from a short allow-list and none may return more than
  `MAX_OUTPUT` characters, nor may the whole output.
* Errors name the template (its key) and the line; the message is built from
  the template text and the exception's kind, never from `str(err)`, which
  for a runtime error may quote an input.

A template whose inputs are not all there is not rendered: it waits
(`Pending`) or inherits the input's problem, and the plan keeps its last
known good value, as for any other source. Its `sourceVersion` hashes the
template text and its inputs' versions, never a value.
"""

from __future__ import annotations

import base64
import functools
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.filters import FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.tests import TESTS

from secretloom.api import secretsync as api
from secretloom.controllers.secretsync.naming import version_hash
from secretloom.controllers.secretsync.plan import PENDING, Resolved

TEMPLATE_ERROR = "TemplateError"
SOURCE = "template"
MAX_OUTPUT = 1024 * 1024  # a Secret's whole data is capped at 1 MiB by the API server
# `data` lookups plus filters per template: each yields at most MAX_OUTPUT characters, so
# what a concatenation can build (before the output check) stays below MAX_STEPS MiB.
MAX_STEPS = 32
_VARIABLE = "data"
_FILENAME = "<template>"
# Node kinds a template may contain; anything else (For, Macro, Assign, Call,
# Include, arithmetic, ...) is refused before rendering.
_ALLOWED_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Const,
    nodes.Name,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Filter,
    nodes.Test,
    nodes.If,
    nodes.CondExpr,
    nodes.Concat,
    nodes.Compare,
    nodes.Operand,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.List,
    nodes.Tuple,
    nodes.Dict,
    nodes.Pair,
    nodes.Keyword,
)
_TESTS = ("defined", "undefined", "none", "string", "number", "eq", "ne", "in")


class TemplateProblem(Exception):
    """Why a template cannot be rendered; `str()` is safe for a status (never a value)."""


def _bounded(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)  # keeps Jinja's pass_* markers
    def bounded(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        if isinstance(result, str) and len(result) > MAX_OUTPUT:
            raise TemplateProblem(f"a filter result exceeds {MAX_OUTPUT} characters")
        return result

    return bounded


def _b64encode(value: str) -> str:
    return base64.b64encode(str(value).encode()).decode()


def _urlquote(value: str) -> str:
    """Percent-encodes everything but unreserved characters (a password in a URL)."""
    return urllib.parse.quote(str(value), safe="")


class _Sandbox(ImmutableSandboxedEnvironment):
    """`data.key` and `data['key']` read the inputs; nothing else has attributes."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        return self._lookup(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        return self._lookup(obj, argument)

    @staticmethod
    def _lookup(obj: Any, name: Any) -> Any:
        if not isinstance(obj, _Inputs):
            raise TemplateProblem("only data.<key> can be looked up")
        return obj.values[name]


@dataclass(frozen=True, slots=True)
class _Inputs:
    values: Mapping[str, str]


def _environment() -> _Sandbox:
    env = _Sandbox(
        loader=None, undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    env.globals.clear()
    allowed = {
        "default": FILTERS["default"],
        "lower": FILTERS["lower"],
        "upper": FILTERS["upper"],
        "trim": FILTERS["trim"],
        "length": FILTERS["length"],
        "string": FILTERS["string"],
        "tojson": FILTERS["tojson"],
        "b64encode": _b64encode,
        "urlquote": _urlquote,
    }
    env.filters = {name: _bounded(fn) for name, fn in allowed.items()}
    env.tests = {name: TESTS[name] for name in _TESTS}
    return env


_ENV = _environment()


@dataclass(frozen=True, slots=True)
class Compiled:
    """A template that passed the static checks, and the keys it reads."""

    template: Template
    inputs: tuple[str, ...]


def _refuse(node: nodes.Node) -> str | None:
    """Why `node` is not allowed in a template, or None."""
    if not isinstance(node, _ALLOWED_NODES):
        return f"{type(node).__name__.lower()} is not allowed in templates"
    if isinstance(node, nodes.Name) and node.name != _VARIABLE:
        return f"unknown name {node.name!r}: values are read as data.<key>"
    if isinstance(node, nodes.Filter) and node.name not in _ENV.filters:
        return f"filter {node.name!r} is not allowed (allowed: {', '.join(sorted(_ENV.filters))})"
    if isinstance(node, nodes.Test) and node.name not in _ENV.tests:
        return f"test {node.name!r} is not allowed"
    if isinstance(node, nodes.Filter | nodes.Test) and (node.dyn_args or node.dyn_kwargs):
        return "*args and **kwargs are not allowed in templates"
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        on_data = isinstance(node.node, nodes.Name) and node.node.name == _VARIABLE
        literal = isinstance(node, nodes.Getattr) or (
            isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str)
        )
        if not (on_data and literal):
            return "only data.<key> or data['<key>'] with a literal key can be looked up"
    return None


def _walk(node: nodes.Node) -> list[nodes.Node]:
    found = [node]
    for child in node.iter_child_nodes():
        found.extend(_walk(child))
    return found


def _input_name(node: nodes.Getattr | nodes.Getitem) -> str:
    if isinstance(node, nodes.Getattr):
        return str(node.attr)
    assert isinstance(node.arg, nodes.Const)
    return str(node.arg.value)


@functools.lru_cache(maxsize=1024)
def compile_template(source: str) -> Compiled:
    """Parse and check a template once per text; raise `TemplateProblem` with a line."""
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as err:
        # Raised by the parser from the template's own text: no value is in play.
        raise TemplateProblem(f"line {err.lineno}: {err.message}") from None
    inputs: list[str] = []
    steps = 0
    for node in _walk(tree):
        refusal = _refuse(node)
        if refusal is not None:
            raise TemplateProblem(f"line {node.lineno}: {refusal}")
        if isinstance(node, nodes.Getattr | nodes.Getitem):
            inputs.append(_input_name(node))
        steps += isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Filter)
        if steps > MAX_STEPS:
            raise TemplateProblem(f"line {node.lineno}: more than {MAX_STEPS} lookups and filters")
    return Compiled(_ENV.from_string(tree), tuple(dict.fromkeys(inputs)))


def _line(err: BaseException) -> int:
    """The template line an exception was raised at (Jinja rewrites the traceback to it)."""
    line, tb = 0, err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render(compiled: Compiled, values: Mapping[str, str]) -> str:
    """The rendered text; `values` are the decoded inputs. Raises `TemplateProblem`."""
    size, parts = 0, []
    try:
        for part in compiled.template.generate({_VARIABLE: _Inputs(values)}):
            size += len(part)
            if size > MAX_OUTPUT:
                raise TemplateProblem(f"the output exceeds {MAX_OUTPUT} characters")
            parts.append(part)
    except TemplateProblem as err:
        raise TemplateProblem(f"line {_line(err) or 1}: {err}") from None
    except Exception as err:  # any failure of a template is reported, never raised
        # str(err) may quote an input (a TypeError, a KeyError): only the kind is reported.
        raise TemplateProblem(
            f"line {_line(err) or 1}: rendering failed ({type(err).__name__})"
        ) from None
    return "".join(parts)


def render_all(spec: api.SecretSyncSpec, resolved: Sequence[Resolved]) -> list[Resolved]:
    """`resolved` with every template key appended (replacing a dataFrom key of its name)."""
    if not spec.templates:
        return list(resolved)
    by_key = {r.key: r for r in resolved if r.key}
    # A dataFrom path never read yet has no keys: an input missing meanwhile may be one of them.
    unread = next((r for r in resolved if not r.key and r.reason == PENDING), None)
    names = {t.key for t in spec.templates}
    rendered = [_one(entry, by_key, unread) for entry in spec.templates]
    return [r for r in resolved if r.key not in names] + rendered


def _one(
    entry: api.TemplateEntry, by_key: Mapping[str, Resolved], unread: Resolved | None
) -> Resolved:
    prefix = f"template {entry.key!r}: "
    try:
        compiled = compile_template(entry.template)
    except TemplateProblem as problem:
        return _problem(entry.key, prefix + str(problem))
    unknown = [name for name in compiled.inputs if name not in by_key]
    if unknown and unread is not None:
        return Resolved(
            entry.key,
            SOURCE,
            reason=PENDING,
            message=f"{prefix}waiting for {unread.source} (input {unknown[0]!r})",
        )
    if unknown:
        return _problem(
            entry.key,
            f"{prefix}{unknown[0]!r} is not a key of this SecretSync "
            "(templates read only spec.data keys and dataFrom properties)",
        )
    inputs = [by_key[name] for name in compiled.inputs]
    waiting = [r for r in inputs if r.value is None]
    if waiting:
        first = next((r for r in waiting if r.reason == PENDING), waiting[0])
        return Resolved(
            entry.key,
            SOURCE,
            reason=first.reason,
            kind=first.kind,
            message=f"{prefix}input {first.key!r} has no value ({first.reason})",
        )
    values: dict[str, str] = {}
    for r in inputs:
        assert r.value is not None
        try:
            values[r.key] = base64.b64decode(r.value).decode()
        except UnicodeDecodeError:
            return _problem(entry.key, f"{prefix}input {r.key!r} is not UTF-8 text")
    try:
        text = render(compiled, values)
    except TemplateProblem as problem:
        return _problem(entry.key, prefix + str(problem))
    version = version_hash(SOURCE, entry.template, *(r.version for r in inputs))
    return Resolved(
        entry.key, SOURCE, value=base64.b64encode(text.encode()).decode(), version=version
    )


def _problem(key: str, message: str) -> Resolved:
    return Resolved(key, SOURCE, reason=TEMPLATE_ERROR, message=message)
