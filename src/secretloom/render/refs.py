"""References in strings: vals' `ref+<backend>://…` and argocd-vault-plugin's `<path:…>`.

Syntax, as those tools write it:

* `ref+BACKEND://PATH[?QUERY][#/JSON/POINTER][+]` (also `secretref+`). A
  reference ends at whitespace or `+`, so one string may hold several
  (`"postgres://u:ref+env://ARGOCD_ENV_PW+@db"`).
* `<path:MOUNT/data/PATH#KEY[#VERSION]>`: a KV v2 API path as AVP takes it;
  it resolves through the default vault store.

Queries are allow-listed per backend (`store`, `version` for vault; `store`,
`version_stage`, `version_id` for awssecrets; `store`, `version` for awsssm):
vals lets a reference carry `address=`, `token_env=` or `role_arn=`, which
would let an app send the plugin's credentials to a server, or assume a role,
of its choosing; here stores are the operator's.
Parsing is pure; `Ref.display` omits the query so errors never echo one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from secretloom.render.errors import RenderError

BACKENDS = ("vault", "sops", "env", "file", "k8s", "awssecrets", "awsssm")
# vals' `region`, `role_arn`, `profile` are refused: the store decides where and as whom.
_ALLOWED_QUERY = {
    "vault": {"store", "version"},
    "awssecrets": {"store", "version_stage", "version_id"},
    "awsssm": {"store", "version"},
}
_VALS = re.compile(r"(?:secret)?ref\+([A-Za-z0-9_-]*)://([^+\s]*)\+?")
# A placeholder never spans lines, so errors that quote it stay one line.
_AVP = re.compile(r"<path:([^<>#\r\n]*)#([^<>#\r\n]*)(?:#([^<>#\r\n]*))?>")
MARKERS = ("ref+", "<path:")


@dataclass(frozen=True, slots=True)
class Ref:
    backend: str
    path: str
    pointer: tuple[str, ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    avp: bool = False

    @property
    def display(self) -> str:
        if self.avp:
            version = dict(self.query).get("version")
            key = "#".join(
                [self.pointer[0] if self.pointer else "", *([version] if version else [])]
            )
            return f"<path:{self.path}#{key}>"
        pointer = "#/" + "/".join(self.pointer) if self.pointer else ""
        return f"ref+{self.backend}://{self.path}{pointer}"

    def param(self, name: str) -> str | None:
        return dict(self.query).get(name)


@dataclass(frozen=True, slots=True)
class Occurrence:
    start: int
    end: int
    ref: Ref


def might_contain(text: str) -> bool:
    return any(marker in text for marker in MARKERS)


def find(text: str) -> list[Occurrence]:
    """Every reference in `text`, in order; malformed ones raise RenderError."""
    if not might_contain(text):
        return []
    found = [
        Occurrence(m.start(), m.end(), _vals(m.group(1), m.group(2))) for m in _VALS.finditer(text)
    ]
    found += [Occurrence(m.start(), m.end(), _avp(*m.groups())) for m in _AVP.finditer(text)]
    return sorted(found, key=lambda o: o.start)


def _vals(backend: str, body: str) -> Ref:
    rest, _, fragment = body.partition("#")
    path, _, query_text = rest.partition("?")
    shown = f"ref+{backend}://{path}"
    if backend not in BACKENDS:
        raise RenderError(f"{shown}: unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    if not path:
        raise RenderError(f"{shown}: the reference has no path")
    if fragment and not fragment.startswith("/"):
        raise RenderError(f"{shown}: the fragment must be a JSON pointer starting with '/'")
    query = tuple(parse_qsl(query_text, keep_blank_values=True))
    refused = sorted({name for name, _ in query} - _ALLOWED_QUERY.get(backend, set()))
    if refused:
        raise RenderError(f"{shown}: query parameter(s) {', '.join(refused)} are not allowed")
    return Ref(backend, unquote(path), _pointer(fragment), query)


def _pointer(fragment: str) -> tuple[str, ...]:
    if fragment in ("", "/"):
        return ()
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in fragment[1:].split("/"))


def _avp(path: str, key: str, version: str | None) -> Ref:
    shown = f"<path:{path}#{key}>"
    key = key.strip()
    if "|" in key:
        raise RenderError(f"{shown}: argocd-vault-plugin modifiers are not supported")
    if not path.strip() or not key:
        raise RenderError(f"{shown}: a path and a key are required")
    query = (("version", version.strip()),) if version else ()
    return Ref("vault", path.strip(), (key,), query, avp=True)


def substitute(text: str, values: Mapping[Ref, object]) -> object:
    """`text` with each reference replaced by its value.

    A string that is exactly one reference becomes the value itself (which may
    be a mapping or a number); references inside a longer string must resolve
    to scalars and are spliced in as text.
    """
    found = find(text)
    if not found:
        return text
    if len(found) == 1 and found[0].start == 0 and found[0].end == len(text):
        return values[found[0].ref]
    pieces, last = [], 0
    for occurrence in found:
        value = values[occurrence.ref]
        if isinstance(value, dict | list):
            raise RenderError(
                f"{occurrence.ref.display}: a mapping or list cannot be embedded in a string"
            )
        pieces += [text[last : occurrence.start], scalar_text(value)]
        last = occurrence.end
    return "".join([*pieces, text[last:]])


def scalar_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
