"""The Authorization header a kubeconfig user sends, and when a 401 is worth one retry."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from secretloom.runtime import credentials
from secretloom.runtime.credentials import Authorization, CredentialError, Fixed, TokenFile


def test_a_fixed_token_is_sent_as_bearer_and_never_retried() -> None:
    fixed = Fixed.bearer("t0ken")
    sent = asyncio.run(fixed.authorize())
    assert sent == Authorization("Bearer t0ken")
    assert asyncio.run(fixed.refused(sent)) is None


def test_basic_auth_is_the_base64_pair() -> None:
    sent = asyncio.run(Fixed.basic("alice", "s3cret:with:colons").authorize())
    scheme, pair = sent.header.split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(pair).decode() == "alice:s3cret:with:colons"


def test_a_rotated_token_file_is_read_after_a_minute_or_a_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "token"
    path.write_text("first\n")
    source = TokenFile(path)
    first = asyncio.run(source.authorize())
    assert first.header == "Bearer first"

    path.write_text("second")  # the kubelet rotated it
    assert asyncio.run(source.authorize()) == first  # cached: not read on every request
    retry = asyncio.run(source.refused(first))
    assert retry == Authorization("Bearer second")
    assert asyncio.run(source.refused(retry)) is None  # the same token again: no retry

    path.write_text("third")
    monkeypatch.setattr(credentials, "TOKEN_FILE_TTL_S", 0.0)
    assert asyncio.run(source.authorize()).header == "Bearer third"


@pytest.mark.parametrize("content", [None, "", "\n"])
def test_a_missing_or_empty_token_file_is_one_line(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CredentialError) as failed:
        asyncio.run(TokenFile(path).authorize())
    assert str(failed.value).startswith(f"token file {path}")
    assert "\n" not in str(failed.value)
