"""helm and kustomize, run without a shell and with a scrubbed environment.

Arguments are lists (never a shell string), so nothing an app author writes
is interpreted by a shell (argocd-vault-plugin PR #324). helm gets its cache,
config and data homes inside the private temp dir, and only PATH/HOME plus
those from the plugin's environment: no credential of the sidecar leaks into
a chart's `env` lookups. Tool stderr may quote a rendered value (a chart's
`fail` message), so every known secret is redacted from it before it is shown.

What is shown of a failure is the tool's `Error:` lines, joined into the one
line the CLI prints: helm ends every failure with "Use --debug flag to render
out invalid YAML", which says nothing about what went wrong (issue 10), and
both tools may print warnings before the error. A tool that prints no
`Error:` line gets its last line shown.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

from secretloom.render.errors import RenderError

_TIMEOUT_SECONDS = 300
_MIN_REDACTED = 4  # shorter "secrets" (e.g. "1") would shred the message


class Redactor:
    """Known secret strings, replaced by *** in any text shown to a user."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, values: Iterable[object]) -> None:
        for value in values:
            if isinstance(value, dict):
                self.add(value.values())
            elif isinstance(value, list):
                self.add(value)
            elif value is not None and len(str(value)) >= _MIN_REDACTED:
                self._secrets.add(str(value))

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


def run(args: list[str], *, cwd: Path, env: dict[str, str], redact: Redactor, what: str) -> str:
    try:
        done = subprocess.run(
            args, cwd=cwd, env=env, capture_output=True, timeout=_TIMEOUT_SECONDS, check=False
        )
    except FileNotFoundError:
        raise RenderError(f"{what}: {args[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise RenderError(f"{what}: timed out after {_TIMEOUT_SECONDS}s") from None
    if done.returncode != 0:
        stderr = redact(done.stderr.decode("utf-8", "replace"))
        raise RenderError(f"{what} failed: {_reason(stderr, done.returncode)}")
    return done.stdout.decode("utf-8")


def _reason(stderr: str, code: int) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    return "; ".join(errors or lines[-1:]) or f"exit code {code}"


def tool_env(home: Path, inherited: dict[str, str]) -> dict[str, str]:
    env = {k: inherited[k] for k in ("PATH", "LANG") if k in inherited}
    return env | {
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "helm-cache"),
        "HELM_CONFIG_HOME": str(home / "helm-config"),
        "HELM_DATA_HOME": str(home / "helm-data"),
    }
