"""What Argo CD tells a Config Management Plugin, read from its environment.

Argo CD runs the plugin's generate command in the application directory with
ARGOCD_APP_NAME, ARGOCD_APP_NAMESPACE, KUBE_VERSION, KUBE_API_VERSIONS and the
Application's `plugin.env` entries prefixed ARGOCD_ENV_. The app author
controls the ARGOCD_ENV_ values, so they select *what* to render (values
files, release name), never *what may be read* (see `pipeline.Options`).

    ARGOCD_ENV_HELM_VALUES   values files, comma or newline separated;
                             `secrets://path` marks a SOPS-encrypted one
    ARGOCD_ENV_RELEASE_NAME  helm release name (default: ARGOCD_APP_NAME)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from secretloom.render.errors import RenderError

SECRETS_SCHEME = "secrets://"


@dataclass(frozen=True, slots=True)
class ValuesFile:
    path: str
    encrypted: bool


@dataclass(frozen=True, slots=True)
class AppSettings:
    name: str
    namespace: str
    release_name: str
    values: tuple[ValuesFile, ...]
    kube_version: str | None
    api_versions: tuple[str, ...]


# Helm's release-name rule; it also keeps a name from being read as a flag.
_RELEASE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?")


def from_env(env: Mapping[str, str]) -> AppSettings:
    name = env.get("ARGOCD_APP_NAME", "") or "release"
    entries = [e for e in re.split(r"[,\n]", env.get("ARGOCD_ENV_HELM_VALUES", "")) if e.strip()]
    values = tuple(
        ValuesFile(e.strip().removeprefix(SECRETS_SCHEME), e.strip().startswith(SECRETS_SCHEME))
        for e in entries
    )
    release_name = env.get("ARGOCD_ENV_RELEASE_NAME", "") or name
    if not _RELEASE_NAME.fullmatch(release_name):
        raise RenderError(f"release name {release_name!r} is not a valid helm release name")
    return AppSettings(
        name=name,
        namespace=env.get("ARGOCD_APP_NAMESPACE", "") or "default",
        release_name=release_name,
        values=values,
        kube_version=env.get("KUBE_VERSION") or None,
        api_versions=tuple(v for v in env.get("KUBE_API_VERSIONS", "").split(",") if v),
    )
