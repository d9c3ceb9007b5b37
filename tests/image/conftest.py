"""The images `make image` built, run with podman the way a cluster runs them.

Collected only under `make image-test` (SECRETLOOM_IMAGE_TEST=1, after `make image`): a cold
image build takes minutes and needs buildah, podman and runc, so `make test` skips these with a
reason instead of building.

Every container runs with what the Helm chart's securityContext asks of a kubelet: the image's
own non-root user, a read-only root filesystem with no tmpfs added, all capabilities dropped,
no privilege escalation. Two flags are this host's, not the images': crun refuses the cgroup
v1/v2 hybrid layout of these VMs, so runc runs the containers, and without CAP_SYS_RESOURCE
podman's default rlimits (nofile 1048576) cannot be set, so smaller ones are given.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from secretloom import __version__
from tests.render.conftest import keys, sops
from tests.render.test_render_e2e import app, bao, render_token

# The render tests' fixtures (a copy of examples/argocd-cmp-app pointed at a seeded OpenBao, a
# token for it, session PGP/age keys and the real sops), for the plugin image's tests.
__all__ = ["app", "bao", "keys", "render_token", "sops"]

_HERE = Path(__file__).parent
CONTROLLER = f"localhost/secretloom-controller:{__version__}"
CMP = f"localhost/secretloom-cmp:{__version__}"
_HOST = ("--runtime", "runc")
_LIMITS = ("--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096")
_HARDENED = (
    *("--read-only", "--read-only-tmpfs=false", "--cap-drop=all"),
    "--security-opt=no-new-privileges",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees every item of the session, not only this directory's.
    if os.environ.get("SECRETLOOM_IMAGE_TEST") != "1":
        skip = pytest.mark.skip(reason="image tests run under `make image-test`")
        for item in items:
            if item.path.is_relative_to(_HERE):
                item.add_marker(skip)


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`podman ARGS` (this host's runtime flags first); output captured, never raises."""
    return subprocess.run(
        ["podman", *_HOST, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def run_args(image: str, *, options: Sequence[str] = (), args: Sequence[str] = ()) -> list[str]:
    """The arguments of `podman run` for IMAGE, hardened as in a cluster."""
    return ["run", *_LIMITS, *_HARDENED, *options, image, *args]
