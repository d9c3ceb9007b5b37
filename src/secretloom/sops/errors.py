"""Errors of the SOPS layer; every message is safe to print.

Messages name the file, a key path or a master key (recipient, fingerprint),
which are all cleartext in a SOPS file; they never contain a decrypted value,
a data key or an identity.
"""

from __future__ import annotations


def shown(text: str) -> str:
    """A file name or key path as a message shows it: on one line, control characters escaped."""
    return text if text.isprintable() else repr(text)[1:-1]


class SopsError(Exception):
    """Base class; `str(err)` is safe for logs and status."""


class FormatError(SopsError):
    """The file is not a well-formed SOPS document of the expected format."""


class NotEncrypted(FormatError):
    """The file has no `sops` metadata."""


class DataKeyError(SopsError):
    """No master key we hold could recover the data key."""


class IntegrityError(SopsError):
    """A value or the MAC failed authentication: the file was tampered with."""


class LimitError(FormatError):
    """The input exceeds a parser limit (size, nesting, alias expansion): see `limits`."""
