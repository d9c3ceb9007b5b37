"""Who a request to the API server says it is: the `Authorization` header, and what a 401 means.

A kubeconfig user is one of: a bearer token, a token file, a username and
password, an exec plugin (`runtime/execauth.py`), a client certificate (in the
TLS context, so no header at all), or nothing. All but the certificate reach
`KubeClient` as one `Credentials` object, which knows how to answer the one
question that differs between them: after the server refused a value with a
401, is there a new value worth one retry?

* a fixed token or password: no, it will be refused again;
* a token file: yes if the file now holds another token. The kubelet rotates a
  pod's projected service account token in place, so the file is also re-read
  at most once a minute, as client-go's token file source does
  (`cachingTokenSource`), never on every request;
* an exec plugin: yes unless the refused token was minted for this very
  request (then the plugin is asked again next time, but not now).

This replaces lightkube's httpx auth classes: the client speaks aiohttp (see
`runtime/kube.py`), and the retry rule above is ours either way.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

TOKEN_FILE_TTL_S = 60.0


class CredentialError(Exception):
    """No credential could be produced; one line, holding no secret."""


@dataclass(frozen=True, slots=True)
class Authorization:
    """One `Authorization` header value, and whether it was just minted for this request."""

    header: str
    fresh: bool = False


class Credentials(Protocol):
    async def authorize(self) -> Authorization:
        """The header value to send now."""
        ...

    async def refused(self, sent: Authorization) -> Authorization | None:
        """The server answered `sent` with a 401: the value to retry with once, or None."""
        ...


@dataclass(frozen=True, slots=True)
class Fixed:
    """A bearer token or a username and password from the kubeconfig: never changes."""

    value: str

    @classmethod
    def bearer(cls, token: str) -> Fixed:
        return cls(f"Bearer {token}")

    @classmethod
    def basic(cls, username: str, password: str) -> Fixed:
        pair = base64.b64encode(f"{username}:{password}".encode()).decode()
        return cls(f"Basic {pair}")

    async def authorize(self) -> Authorization:
        return Authorization(self.value)

    async def refused(self, sent: Authorization) -> Authorization | None:
        del sent
        return None


class TokenFile:
    """A bearer token read from a file that something else rotates (the kubelet, a sidecar)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._header: str | None = None
        self._read_at = 0.0

    async def authorize(self) -> Authorization:
        if self._header is None or time.monotonic() - self._read_at >= TOKEN_FILE_TTL_S:
            self._header = self._read()
        return Authorization(self._header)

    async def refused(self, sent: Authorization) -> Authorization | None:
        self._header = self._read()  # rotated since the last read, perhaps
        return Authorization(self._header) if self._header != sent.header else None

    def _read(self) -> str:
        try:
            token = self._path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as err:
            reason = getattr(err, "strerror", None) or "not a text file"
            raise CredentialError(f"token file {self._path}: {reason}") from None
        if not token:
            raise CredentialError(f"token file {self._path} is empty")
        self._read_at = time.monotonic()
        return f"Bearer {token}"
