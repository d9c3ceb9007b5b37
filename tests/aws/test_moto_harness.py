"""The moto harness itself: a real server on loopback, restarts in place, faults on demand."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from secretloom.testing.moto import MotoServer

pytestmark = pytest.mark.moto


def test_restart_keeps_the_port_and_starts_empty(tmp_path: Path) -> None:
    with MotoServer(work_dir=tmp_path / "moto") as server:
        port = server.port
        sm = server.client("secretsmanager")
        sm.create_secret(Name="a", SecretString="1")
        assert server.calls("CreateSecret", containing='"a"') == 1
        server.restart()
        assert server.port == port and server.running
        assert server.requests() == []  # the recording starts again with the server
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            server.client("secretsmanager").get_secret_value(SecretId="a")
    assert not server.running


def test_throttling_and_enforced_auth_are_real_answers(tmp_path: Path) -> None:
    with MotoServer(work_dir=tmp_path / "moto") as server:
        ssm = server.client("ssm")
        ssm.put_parameter(Name="/p", Value="v", Type="String")
        server.throttle(100)  # more than boto3's retries
        with pytest.raises(ClientError, match="ThrottlingException"):
            ssm.get_parameter(Name="/p")
        server.throttle(0)
        assert ssm.get_parameter(Name="/p")["Parameter"]["Value"] == "v"
        with server.enforcing_auth(), pytest.raises(ClientError, match=r"403|InvalidClientTokenId"):
            server.client("ssm", access_key="AKIAWRONG").get_parameter(Name="/p")
        assert ssm.get_parameter(Name="/p")["Parameter"]["Value"] == "v"
