"""No secret reaches an error or a log line, on any error path, at DEBUG.

Canaries: a stored value, the root token, a static token, an AppRole SecretID
and a service-account JWT, plus anything shaped like a token the server issued
at login (the test never sees those). Every error path of the provider is
triggered while a canary is in flight (in a request header or body, or in the
response); then every exception (text, repr, args, chain, formatted
traceback), every log record of every logger at DEBUG, and every warning is
searched. The search is not vacuous: the test checks that DEBUG records were
captured from the HTTP transport and from the provider, and that the failed
revocation on close was logged.
"""

from __future__ import annotations

import logging
import re
import secrets
import socket
import traceback
from collections.abc import Awaitable
from typing import Any

import pytest

from secretloom.providers.protocol import (
    InvalidConfig,
    NotFound,
    ProviderError,
    Unauthorized,
    Unavailable,
    ValueRef,
)
from secretloom.providers.vault import VaultProvider
from secretloom.testing.openbao import OpenBaoServer

from .support import (
    KV1,
    KV2,
    AppRole,
    Objects,
    OpenProvider,
    configure_kubernetes_auth,
    make_approle,
    make_token,
    read_policy,
    store,
    token_objects,
    token_store,
    unique,
    write_policy,
)

pytestmark = pytest.mark.openbao

VALUE = f"canary-value-{secrets.token_hex(8)}"
STATIC_TOKEN = f"canary-token-{secrets.token_hex(8)}"
SECRET_ID = f"canary-secret-id-{secrets.token_hex(8)}"
JWT = f"eyJhbGciOiJSUzI1NiJ9.e30.canary-jwt-{secrets.token_hex(8)}"
LOGGERS = ("", "secretloom", "hvac", "urllib3", "requests")
PROVIDER_LOGGER = "secretloom.providers.vault"
# One message fragment per error path, to show each was really taken.
TRIGGERED = (
    "not found (HTTP 404)",
    "property not found",
    "a property is required",
    "'.' or '..' segments",
    "a version pin needs a KV v2 mount",
    "the mount is KV v1 but the store says v2",
    "permission denied (HTTP 403)",
    "credentials rejected (HTTP 400)",
    "this controller cannot request tokens",
    "is empty or not UTF-8",
    "TLS verification failed",
    "connection failed",
    "timed out",
    "sealed or unavailable (HTTP 503)",
)
# OpenBao's service, batch and recovery tokens (Vault's with an "hv" prefix).
ISSUED_TOKEN = re.compile(r"\b(?:hv)?[sbr]\.[A-Za-z0-9]{20,}")


async def failure(call: Awaitable[Any]) -> ProviderError:
    try:
        await call
    except ProviderError as err:
        return err
    raise AssertionError("expected a ProviderError")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_no_canary_in_errors_logs_or_warnings(
    bao: OpenBaoServer,
    bao_tls: OpenBaoServer,
    root: Any,
    open_provider: OpenProvider,
    caplog: pytest.LogCaptureFixture,
    recwarn: pytest.WarningsRecorder,
) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    canaries = [VALUE, STATIC_TOKEN, SECRET_ID, JWT, bao.root_token]
    path, denied = unique("app"), unique("denied")
    for name in (path, denied):
        data = {"value": VALUE, "other": VALUE}
        root.secrets.kv.v2.create_or_update_secret(path=name, secret=data, mount_point=KV2)
        root.secrets.kv.v1.create_or_update_secret(path=name, secret=data, mount_point=KV1)
    policy = write_policy(root, read_policy(f"{KV2}/data/{path}"))
    make_token(root, policy, id=STATIC_TOKEN)
    app_role = make_approle(root, policy, secret_id=SECRET_ID)
    wrong_role = AppRole(app_role.mount, "no-such-role-id", SECRET_ID)
    kube_mount = configure_kubernetes_auth(root, bao_tls.ca_pem)
    kube = {
        "kubernetes": {"mountPath": kube_mount, "role": "app", "serviceAccountRef": {"name": "app"}}
    }

    def with_token(token: str, server: str = bao.address, **fields: Any) -> VaultProvider:
        return open_provider(token_store(server, **fields), token_objects(token))

    as_root = with_token(bao.root_token)
    as_static = with_token(STATIC_TOKEN)
    as_app_role = open_provider(store(bao.address, app_role.auth()), app_role.objects())
    v1 = with_token(bao.root_token, path=KV1, version="v1")
    not_utf8 = Objects(secrets={("vault-token", "token"): STATIC_TOKEN.encode() + b"\xff"})
    errors = [
        await failure(as_root.get_all(ValueRef("absent"))),
        await failure(as_root.get(ValueRef(path, "absent"))),
        await failure(as_root.get(ValueRef(path, "value", version=7))),
        await failure(as_root.get(ValueRef(path))),
        await failure(as_root.get_all(ValueRef("../../auth/token/lookup-self"))),
        await failure(v1.get(ValueRef(path, "absent"))),
        await failure(v1.get(ValueRef(path, "value", version=1))),
        await failure(with_token(bao.root_token, path=KV1).validate()),
        await failure(as_static.get(ValueRef(denied, "value"))),
        await failure(as_app_role.get(ValueRef(denied, "value"))),
        await failure(
            open_provider(store(bao.address, wrong_role.auth()), wrong_role.objects()).validate()
        ),
        await failure(open_provider(store(bao.address, kube), Objects(jwt=JWT)).validate()),
        await failure(open_provider(store(bao.address, kube), Objects()).validate()),
        await failure(open_provider(token_store(bao.address), not_utf8).validate()),
        await failure(with_token(bao.root_token, server=bao_tls.address).validate()),
        await failure(
            with_token(bao.root_token, server=f"http://127.0.0.1:{closed_port()}").validate()
        ),
    ]
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"http://127.0.0.1:{silent.getsockname()[1]}"
        slow = open_provider(token_store(address), token_objects(bao.root_token), timeout=0.2)
        errors.append(await failure(slow.validate()))
    assert await as_static.get(ValueRef(path, "value")) == VALUE.encode()
    root.auth.token.revoke(STATIC_TOKEN)
    errors.append(await failure(as_static.get(ValueRef(path, "value"))))

    # Sealed: every request is a 503, and closing a logged-in client fails to
    # revoke its token, which is logged as a warning.
    assert await as_app_role.get(ValueRef(path, "value")) == VALUE.encode()
    root.sys.seal()
    try:
        errors.append(await failure(as_root.get(ValueRef(path, "value"))))
        await as_app_role.close()
    finally:
        bao.restart()

    assert {type(err) for err in errors} == {NotFound, InvalidConfig, Unauthorized, Unavailable}
    # A server never trusted as Vault gets one message; its cause is logged for the operator.
    records = caplog.records
    logged = [r.getMessage() for r in records if r.name == PROVIDER_LOGGER]
    messages = "\n".join([*map(str, errors), *logged])
    for reason in TRIGGERED:
        assert reason in messages, f"{reason!r} was not triggered"
    for err in errors:
        assert err.__cause__ is None
        assert err.__context__ is None
        texts = [str(err), repr(err), *map(str, err.args), *traceback.format_exception(err)]
        assert leaks(canaries, texts) == [], f"{type(err).__name__}: {err}"

    assert any(r.name.startswith("urllib3") and r.levelno == logging.DEBUG for r in records)
    assert any(r.name == PROVIDER_LOGGER and r.levelno == logging.DEBUG for r in records)
    revoke_warnings = [
        r
        for r in records
        if r.name == PROVIDER_LOGGER
        and r.levelno == logging.WARNING
        and "token revoke" in r.getMessage()
    ]
    assert revoke_warnings
    assert "token revoke: sealed or unavailable (HTTP 503)" in revoke_warnings[0].getMessage()
    assert leaks(canaries, [caplog.text, *(r.getMessage() for r in records)]) == []
    assert leaks(canaries, [str(w.message) for w in recwarn.list]) == []


def leaks(canaries: list[str], texts: list[str]) -> list[str]:
    """Canaries, and tokens the server issued at login (unknown to the test), in `texts`."""
    found = {c for c in canaries for text in texts if c in text}
    return sorted(found | {m for text in texts for m in ISSUED_TOKEN.findall(text)})
