"""Throttling, wrong credentials, outages, egress and IRSA: real moto, real failures."""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from typing import Any

import pytest

from secretloom.providers.aws_parameterstore import ParameterStoreProvider
from secretloom.providers.aws_secretsmanager import SecretsManagerProvider
from secretloom.providers.egress import EgressPolicy
from secretloom.providers.protocol import Unauthorized, Unavailable, ValueRef
from secretloom.testing.moto import MotoServer, body_of, operation_of
from tests.openbao.support import Objects

from .conftest import unique
from .support import KEY_ID_CANARY, ROLE_ARN, SECRET_KEY_CANARY, OpenAWS, keys_objects, spec

pytestmark = pytest.mark.moto

JWT = "eyJhbGciOiJSUzI1NiJ9.canary-web-identity.signature"
IRSA = {"jwt": {"roleArn": ROLE_ARN, "serviceAccountRef": {"name": "reader"}}}


async def test_a_throttled_call_is_retried_with_backoff_then_reported(
    moto: MotoServer, sm: Any, open_aws: OpenAWS
) -> None:
    name = unique("busy")
    sm.create_secret(Name=name, SecretString='{"k":"v"}')
    provider = open_aws(SecretsManagerProvider, moto)
    moto.throttle(2)  # two throttled answers, then moto's own
    before = moto.calls("GetSecretValue", containing=name)
    assert await provider.get(ValueRef(name, "k")) == b"v"
    assert moto.calls("GetSecretValue", containing=name) - before == 1  # only moto's answer

    moto.throttle(100)
    started = time.monotonic()
    with pytest.raises(Unavailable, match=r"throttled by AWS \(ThrottlingException\)") as err:
        await provider.get(ValueRef(name, "k"))
    assert name in str(err.value)
    assert time.monotonic() - started < 10  # within the provider's deadline
    moto.throttle(0)


async def test_wrong_keys_are_unauthorized_and_name_no_key(
    moto: MotoServer, sm: Any, ssm: Any, open_aws: OpenAWS
) -> None:
    name = unique("guarded")
    sm.create_secret(Name=name, SecretString="s3cr3t-value")
    for cls in (SecretsManagerProvider, ParameterStoreProvider):
        provider = open_aws(cls, moto)
        with (
            moto.enforcing_auth(),
            pytest.raises(Unauthorized, match="credentials rejected") as err,
        ):
            await provider.validate()
        for canary in (KEY_ID_CANARY, SECRET_KEY_CANARY):
            assert canary not in str(err.value)


async def test_an_emulator_outage_is_unavailable_and_recovers(
    moto: MotoServer, sm: Any, open_aws: OpenAWS
) -> None:
    name = unique("outage")
    sm.create_secret(Name=name, SecretString='{"k":"v"}')
    provider = open_aws(SecretsManagerProvider, moto, timeout=2.0)
    assert await provider.get(ValueRef(name, "k")) == b"v"
    moto.kill()
    with pytest.raises(Unavailable, match="connection failed"):
        await provider.get(ValueRef(name, "k"))
    moto.start()  # empty again: the secret is gone, the endpoint answers
    sm = moto.client("secretsmanager")
    sm.create_secret(Name=name, SecretString='{"k":"v2"}')
    assert await provider.get(ValueRef(name, "k")) == b"v2"


async def test_a_hung_endpoint_meets_the_deadline(
    moto: MotoServer, sm: Any, open_aws: OpenAWS
) -> None:
    name = unique("hung")
    sm.create_secret(Name=name, SecretString='{"k":"v"}')
    provider = open_aws(SecretsManagerProvider, moto, timeout=1.5)
    assert await provider.get(ValueRef(name, "k")) == b"v"
    moto.pause()
    try:
        started = time.monotonic()
        with pytest.raises(Unavailable, match=r"did not answer within 1.5s"):
            await provider.get(ValueRef(name, "k"))
        assert time.monotonic() - started < 3.0
    finally:
        moto.resume()


async def test_the_egress_policy_refuses_an_endpoint_before_anything_is_sent(
    moto: MotoServer, open_aws: OpenAWS, caplog: pytest.LogCaptureFixture
) -> None:
    objects = keys_objects()
    ctx = dataclasses.replace(objects.context(), egress=EgressPolicy.parse("10.0.0.0/8"))
    name = f"refused-{uuid.uuid4().hex[:8]}"
    provider = SecretsManagerProvider(spec(moto), ctx)
    try:
        with caplog.at_level(logging.WARNING), pytest.raises(Unavailable) as err:
            await provider.get(ValueRef(name, "k"))
    finally:
        await provider.close()
    assert "did not answer as an AWS API" in str(err.value)
    assert "not allowed by --store-servers" in caplog.text  # the operator's log says why
    # Nothing reached the emulator. Counted by this secret's name: an earlier test's
    # provider, given up on while the emulator hung, may still land a late read.
    assert moto.calls("GetSecretValue", containing=name) == 0


async def test_irsa_exchanges_a_service_account_token_and_renews_it(
    moto: MotoServer, sm: Any, open_aws: OpenAWS
) -> None:
    name = unique("irsa")
    sm.create_secret(Name=name, SecretString='{"k":"v"}')
    objects = Objects(jwt=JWT)
    now = [1000.0]
    provider = open_aws(
        SecretsManagerProvider, moto, objects, fields={"auth": IRSA}, clock=lambda: now[0]
    )
    before = moto.calls("AssumeRoleWithWebIdentity")
    assert await provider.get(ValueRef(name, "k")) == b"v"
    assert await provider.get(ValueRef(name, "k")) == b"v"
    assert moto.calls("AssumeRoleWithWebIdentity") - before == 1
    assert objects.token_requests == [("reader", ("sts.amazonaws.com",))]
    exchange = [e for e in moto.requests() if operation_of(e) == "AssumeRoleWithWebIdentity"][-1]
    assert "canary-web-identity" in body_of(exchange)
    assert ROLE_ARN.replace(":", "%3A").replace("/", "%2F") in body_of(exchange)
    assert "Authorization" not in exchange["headers"]  # unsigned, as STS expects

    now[0] += 3600  # past two thirds of moto's one-hour credentials
    assert await provider.get(ValueRef(name, "k")) == b"v"
    assert moto.calls("AssumeRoleWithWebIdentity") - before == 2
    assert len(objects.token_requests) == 2


async def test_ambient_aws_settings_are_ignored(
    moto: MotoServer, sm: Any, open_aws: OpenAWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = unique("ambient")
    sm.create_secret(Name=name, SecretString='{"k":"v"}')
    monkeypatch.setenv("AWS_PROFILE", "does-not-exist")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAAMBIENT")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    provider = open_aws(SecretsManagerProvider, moto)
    assert await provider.get(ValueRef(name, "k")) == b"v"
    last = [e for e in moto.requests() if operation_of(e) == "GetSecretValue"][-1]
    assert KEY_ID_CANARY in last["headers"]["Authorization"]  # the store's keys, not AWS_*
