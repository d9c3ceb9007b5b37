"""Exec credential plugins (`users[].user.exec` of a kubeconfig), v1 and v1beta1.

The kubeconfigs EKS (`aws eks get-token`), GKE (`gke-gcloud-auth-plugin`)
and AKS or any OIDC issuer (kubelogin) write hold no credential: they name a
program that prints an `ExecCredential` with a short-lived token. lightkube
1.0 runs only v1alpha1/v1beta1 plugins and refuses
`client.authentication.k8s.io/v1`, the apiVersion those tools write today
(issue 10); it also ignores `expirationTimestamp` and runs the plugin once per
concurrent first request. So the protocol is implemented here, once, as
client-go does it
(https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins):

* The plugin runs without a shell, with the kubeconfig's `args`, its `env` on
  top of ours, and `KUBERNETES_EXEC_INFO` describing the request: never
  interactive (a controller and an Argo CD plugin have no terminal, so a
  plugin declaring `interactiveMode: Always` is refused when the kubeconfig is
  loaded), plus the cluster's server and CA when `provideClusterInfo` asks.
* The answer must be an `ExecCredential` of the kubeconfig's apiVersion with a
  token. The token is cached until its `expirationTimestamp` (for ever without
  one) and dropped on a 401; a request whose cached token was refused is
  retried once with a fresh one. Concurrent requests wait for one plugin run.
* A failure (not found, non-zero exit, no answer in time, not an
  ExecCredential) is one line: the command, the exit code and the last line
  of its stderr, plus the kubeconfig's install hint when the command is
  missing. Never stdout: that is where the token is.

Client certificates from a plugin (`clientCertificateData`) are refused with
a clear message: none of the tools above returns one, and each would need its
own TLS context.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secretloom.api import kubetime
from secretloom.runtime.credentials import Authorization, CredentialError

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
TIMEOUT_SECONDS = 60.0
# What a plugin is told about the cluster with `provideClusterInfo: true`.
_CLUSTER_INFO = ("server", "tls-server-name", "insecure-skip-tls-verify", "proxy-url")


class ExecError(CredentialError):
    """A plugin gave no usable credential; the message is one line and holds no token."""


@dataclass(frozen=True, slots=True)
class ExecConfig:
    """One user's `exec` stanza, checked when the kubeconfig is loaded."""

    api_version: str
    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    install_hint: str = ""
    cluster: Mapping[str, Any] | None = None  # ExecCredential.spec.cluster, if asked for


def parse(raw: object, *, cluster: Mapping[str, Any], base: Path) -> ExecConfig:
    """The `exec` mapping of a kubeconfig user; ValueError with a one-line reason.

    `cluster` is the raw cluster entry (for `provideClusterInfo`), `base` the
    kubeconfig's directory: a relative command with a slash is relative to it,
    as in client-go; a bare name is looked up on PATH.
    """
    if not isinstance(raw, Mapping):
        raise ValueError("exec must be a mapping")
    version = raw.get("apiVersion")
    if version not in API_VERSIONS:
        raise ValueError(
            f"exec apiVersion {version!r} is not supported (use {' or '.join(API_VERSIONS)})"
        )
    command = raw.get("command")
    if not isinstance(command, str) or not command:
        raise ValueError("exec needs a command")
    if raw.get("interactiveMode") == "Always":
        raise ValueError(
            f"exec plugin {command!r} needs a terminal (interactiveMode: Always); "
            "secretloom runs without one"
        )
    args = raw.get("args") or []
    env = raw.get("env") or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ValueError("exec args must be a list of strings")
    if not isinstance(env, list) or not all(
        isinstance(e, Mapping) and all(isinstance(e.get(k), str) for k in ("name", "value"))
        for e in env
    ):
        raise ValueError("exec env must be a list of {name, value} strings")
    if "/" in command:
        command = str(base / command)  # an absolute command stays itself
    hint = raw.get("installHint")
    return ExecConfig(
        api_version=version,
        command=command,
        args=tuple(args),
        env={e["name"]: e["value"] for e in env},
        install_hint=hint.strip().splitlines()[0] if isinstance(hint, str) and hint.strip() else "",
        cluster=_cluster_info(cluster, base) if raw.get("provideClusterInfo") is True else None,
    )


def _cluster_info(cluster: Mapping[str, Any], base: Path) -> dict[str, Any]:
    info = {k: cluster[k] for k in _CLUSTER_INFO if k in cluster}
    ca_data = cluster.get("certificate-authority-data")
    ca_file = cluster.get("certificate-authority")
    if isinstance(ca_file, str) and not ca_data:
        try:
            ca_data = base64.b64encode((base / ca_file).read_bytes()).decode()
        except OSError as err:
            raise ValueError(f"certificate-authority {ca_file}: {err.strerror}") from None
    if ca_data:
        info["certificate-authority-data"] = ca_data
    return info


class ExecAuth:
    """Bearer tokens from an exec plugin: `Credentials` for `KubeClient`."""

    def __init__(self, config: ExecConfig) -> None:
        self._config = config
        self._token: str | None = None
        self._expires: float | None = None
        self._lock = asyncio.Lock()

    async def authorize(self) -> Authorization:
        token, fresh = await self._current(refused=None)
        return Authorization(f"Bearer {token}", fresh)

    async def refused(self, sent: Authorization) -> Authorization | None:
        token = sent.header.removeprefix("Bearer ")
        if sent.fresh:  # refused the moment it was made: another run would be refused too
            if self._token == token:
                self._token = None  # the next request asks the plugin again
            return None
        token, _ = await self._current(refused=token)
        return Authorization(f"Bearer {token}", fresh=True)

    async def _current(self, *, refused: str | None) -> tuple[str, bool]:
        """The cached token (False), or a new one (True) if it expired or was `refused`."""
        async with self._lock:  # one plugin run for every request waiting on it
            if self._token is not None and self._token != refused and not self._expired():
                return self._token, False
            self._token = None  # a failing run leaves no stale token in use
            self._token, self._expires = await run(self._config)
            return self._token, True

    def _expired(self) -> bool:
        return self._expires is not None and time.time() >= self._expires


async def run(config: ExecConfig) -> tuple[str, float | None]:
    """Run the plugin once: its token and when it expires (epoch seconds, or None)."""
    name = repr(config.command)
    spec: dict[str, Any] = {"interactive": False}
    if config.cluster is not None:
        spec["cluster"] = dict(config.cluster)
    info = {"apiVersion": config.api_version, "kind": "ExecCredential", "spec": spec}
    env = {**os.environ, **config.env, "KUBERNETES_EXEC_INFO": json.dumps(info)}
    try:
        proc = await asyncio.create_subprocess_exec(
            config.command,
            *config.args,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as err:
        hint = f" ({config.install_hint})" if config.install_hint else ""
        raise ExecError(f"exec plugin {name}: {err.strerror}{hint}") from None
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), TIMEOUT_SECONDS)
    except TimeoutError:
        raise ExecError(f"exec plugin {name}: no answer within {TIMEOUT_SECONDS:.0f}s") from None
    finally:
        if proc.returncode is None:  # timed out or cancelled: never leave it running
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        lines = stderr.decode("utf-8", "replace").strip().splitlines()
        said = f": {lines[-1].strip()}" if lines else ""
        raise ExecError(f"exec plugin {name} exited with code {proc.returncode}{said}")
    return _credential(stdout, config.api_version, name)


def _credential(stdout: bytes, api_version: str, name: str) -> tuple[str, float | None]:
    try:
        answer = json.loads(stdout)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or answer.get("kind") != "ExecCredential":
        raise ExecError(f"exec plugin {name}: its output is not an ExecCredential")
    if answer.get("apiVersion") != api_version:
        raise ExecError(
            f"exec plugin {name}: answered with apiVersion {str(answer.get('apiVersion'))!r}, "
            f"the kubeconfig asks for {api_version!r}"
        )
    status = answer.get("status")
    token = status.get("token") if isinstance(status, dict) else None
    if not isinstance(token, str) or not token:
        certificate = isinstance(status, dict) and status.get("clientCertificateData")
        raise ExecError(
            f"exec plugin {name}: "
            + (
                "returned a client certificate; only token credentials are supported"
                if certificate
                else "returned no token"
            )
        )
    expiry = status.get("expirationTimestamp") if isinstance(status, dict) else None
    if expiry is None:
        return token, None
    moment = kubetime.parse(str(expiry))
    if moment is None:
        raise ExecError(f"exec plugin {name}: expirationTimestamp is not RFC 3339")
    return token, moment.timestamp()
