"""Start-up liveness of the control plane's processes is their exit status, never /proc.

What this guards: `secretloom cluster up` (and `make demo`, and CI once) failed with
"kube-apiserver exited during start-up" and an empty log while the API server was in fact
starting. Right after `Popen` returns, a large binary is often still inside execve and its
/proc command line is empty, so the PID identity check that guards `stop()` called it dead.
The children here are real processes; the cmdline of `sleep` names no cluster directory at
all, which is what a process inside execve looks like to that check.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from secretloom.testing import cluster as local


def spawn(logs: Path, name: str, script: str) -> subprocess.Popen[bytes]:
    with (logs / f"{name}.log").open("ab") as log:
        return subprocess.Popen(["sh", "-c", script], stdout=log, stderr=subprocess.STDOUT)


def test_a_live_child_is_waited_for_whatever_its_command_line_says(tmp_path: Path) -> None:
    child = spawn(tmp_path, "apiserver", "exec sleep 30")
    polls = iter([False, False, True])
    try:
        local.wait_started({"apiserver": child}, tmp_path, lambda: next(polls), "ready", 10)
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()


def test_a_child_that_exits_is_reported_with_its_status_and_its_log(tmp_path: Path) -> None:
    healthy = spawn(tmp_path, "etcd", "exec sleep 30")
    failing = spawn(tmp_path, "kube-apiserver", "echo 'Error: unknown flag: --nope'; exit 3")
    try:
        with pytest.raises(local.ControlPlaneError) as failed:
            local.wait_started(
                {"etcd": healthy, "kube-apiserver": failing}, tmp_path, lambda: False, "ready", 10
            )
    finally:
        healthy.kill()
        healthy.wait()
    message = str(failed.value)
    assert message.startswith("kube-apiserver exited during start-up (exit code 3)")
    assert message.endswith("Error: unknown flag: --nope")


def test_a_killed_child_names_the_signal_and_an_empty_log_says_so(tmp_path: Path) -> None:
    child = spawn(tmp_path, "etcd", "exec sleep 30")
    child.send_signal(signal.SIGKILL)
    child.wait()
    with pytest.raises(local.ControlPlaneError) as failed:
        local.wait_started({"etcd": child}, tmp_path, lambda: False, "ready", 10)
    assert str(failed.value) == (
        f"etcd exited during start-up (killed by SIGKILL); last lines of {tmp_path}/etcd.log:"
        "\n(empty)"
    )


def test_a_child_that_never_gets_ready_times_out(tmp_path: Path) -> None:
    child = spawn(tmp_path, "etcd", "exec sleep 30")
    try:
        with pytest.raises(local.ControlPlaneError, match="timed out after 0s waiting for etcd"):
            local.wait_started({"etcd": child}, tmp_path, lambda: False, "etcd", 0.3)
    finally:
        child.kill()
        child.wait()


def test_a_port_taken_at_start_up_is_told_apart_from_other_failures(tmp_path: Path) -> None:
    said = "listen tcp 127.0.0.1:40000: bind: address already in use"
    child = spawn(tmp_path, "etcd", f"echo '{said}'; exit 1")
    with pytest.raises(local.PortInUse, match="etcd exited during start-up"):
        local.wait_started({"etcd": child}, tmp_path, lambda: False, "ready", 10)
