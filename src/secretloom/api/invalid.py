"""One readable line for a pydantic `ValidationError`: where, never what.

pydantic's own text quotes the input (`input_value='s3cr3t…'`), and a spec can
hold anything an author typed, so it never reaches a status, a log or the
terminal. What does is the field paths of the first few errors, which say
where to look. Issue 11 found this line built in four places, each a little
differently; it is built here.
"""

from __future__ import annotations

from pydantic import ValidationError

SHOWN = 5


def invalid_fields(err: ValidationError, *, whole: str = "spec") -> str:
    """`data.0.key, refreshInterval (and 2 more)`; an error of the whole object is `whole`."""
    paths = [".".join(str(part) for part in e["loc"]) or whole for e in err.errors()[:SHOWN]]
    more = err.error_count() - len(paths)
    return ", ".join(paths) + (f" (and {more} more)" if more > 0 else "")


def first_problem(err: ValidationError, *, prefix: str = "spec") -> str:
    """`spec.data.0.key: String should match pattern …`: the first error, with pydantic's reason.

    For the offline CLI commands (`convert`, `test`), which read the user's own
    files: the reason (never the input, which pydantic keeps out of `msg`) is
    what a person fixing the file needs.
    """
    first = err.errors()[0]
    where = ".".join([prefix, *(str(part) for part in first["loc"])])
    return f"{where}: {first['msg']}"
