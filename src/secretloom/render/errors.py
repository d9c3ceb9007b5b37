"""The one error type of rendering; its text is safe to print.

Messages name a file (relative to the app directory) or a reference as
written minus its query (`ref+vault://secret/app#/password`), never a value.
"""

from __future__ import annotations


class RenderError(Exception):
    """Rendering cannot proceed; `str(err)` is one line, safe for logs."""
