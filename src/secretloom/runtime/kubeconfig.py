"""Where the API server is and who we are to it: a kubeconfig, or the pod's service account.

Which configuration, in controller-runtime's order (the one every Kubernetes
user already expects): the `--kubeconfig` flag, else `$KUBECONFIG`, else the
pod's service account when running in a pod, else `~/.kube/config`.
`render --in-cluster` asks for the service account and nothing else.

lightkube parses clusters, contexts and users and builds the TLS contexts
(the cluster's CA, a client certificate); the `Authorization` header a user
sends is ours (`runtime/credentials.py`: a token, a token file, a username and
password; `runtime/execauth.py`: exec credential plugins, which lightkube
refuses in `client.authentication.k8s.io/v1`).

Every way a configuration can be unusable (no file, not YAML, not a
kubeconfig, no or an unknown current-context, a context naming an undefined
cluster or user, unreadable certificates, an unsupported auth method, no pod
around `--in-cluster`) is one `KubeconfigError` whose message is a line a
user can act on. Left to lightkube these surface as a KeyError, an
AssertionError or its ConfigError, each a traceback (issue 10). Messages name
the file, the context, the cluster and the user, never a token, key or
password: YAML parse errors give a line number only, never the offending text.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from lightkube.config.client_adapter import verify_cluster
from lightkube.config.kubeconfig import KubeConfig, SingleConfig
from lightkube.config.models import User
from lightkube.core.exceptions import ConfigError

from secretloom.runtime import execauth
from secretloom.runtime.credentials import Credentials, Fixed, TokenFile
from secretloom.runtime.execauth import ExecAuth

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_KUBECONFIG = Path("~/.kube/config")


class KubeconfigError(Exception):
    """The client configuration cannot be used; one line, without any credential."""


@dataclass(frozen=True, slots=True)
class Connection:
    """What an HTTP client to one API server, as one identity, is made of."""

    server: str
    verify: ssl.SSLContext  # the cluster's CA, and the client certificate if any
    anonymous: ssl.SSLContext  # the cluster's CA only: for presenting someone else's token
    auth: Credentials | None  # None: a client certificate (in `verify`) or anonymous


def load(path: Path | str | None = None, *, in_cluster: bool = False) -> Connection:
    """The connection `path`, `in_cluster` or (neither) the environment describes."""
    if in_cluster:
        return _service_account(SERVICE_ACCOUNT)
    if path is None:
        path = _env_kubeconfig()
    if path is None and (SERVICE_ACCOUNT / "token").is_file():
        return _service_account(SERVICE_ACCOUNT)
    if path is None:
        path = DEFAULT_KUBECONFIG.expanduser()
        if not path.exists():
            raise KubeconfigError(
                "no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run in a pod "
                f"({DEFAULT_KUBECONFIG} does not exist)"
            )
    return _from_file(Path(path).expanduser())


def _env_kubeconfig() -> Path | None:
    value = os.environ.get("KUBECONFIG", "")
    if os.pathsep in value:
        # kubectl merges a list of files; reading only one of them would be a guess.
        raise KubeconfigError(
            f"KUBECONFIG lists several files ({value}); secretloom reads one: "
            "pass --kubeconfig or set KUBECONFIG to a single file"
        )
    return Path(value) if value else None


def _service_account(directory: Path) -> Connection:
    where = "in-cluster configuration"
    if not (directory / "token").is_file():
        raise KubeconfigError(
            f"{where}: not running in a Kubernetes pod (no service account token in {directory})"
        )
    if not os.environ.get("KUBERNETES_SERVICE_HOST") or not os.environ.get(
        "KUBERNETES_SERVICE_PORT"
    ):
        raise KubeconfigError(f"{where}: KUBERNETES_SERVICE_HOST/PORT are not set")
    try:
        config = KubeConfig.from_service_account(directory)
    except (ConfigError, OSError) as err:
        raise KubeconfigError(f"{where}: {_reason(err)}") from None
    single = config.get()
    assert single is not None  # from_service_account always sets its one context
    return _connect(single, None, where=where)


def _from_file(path: Path) -> Connection:
    where = f"kubeconfig {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise KubeconfigError(f"{where}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise KubeconfigError(f"{where}: not a text file") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise KubeconfigError(f"{where}: not valid YAML{line}") from None
    if not isinstance(raw, dict):
        raise KubeconfigError(f"{where}: not a kubeconfig (no clusters, contexts and users)")
    try:
        config = KubeConfig.from_dict(raw, fname=path)
    except (KeyError, TypeError, AttributeError, ValueError) as err:  # msgspec's too
        raise KubeconfigError(f"{where}: not a valid kubeconfig ({_reason(err)})") from None
    single = _current(config, where)
    return _connect(single, _exec_auth(raw, single, path, where), where=where)


def _exec_auth(
    raw: dict[str, Any], single: SingleConfig, path: Path, where: str
) -> ExecAuth | None:
    """The user's exec plugin, from the raw file: lightkube's model drops interactiveMode."""
    stanza = _entry(raw, "users", single.context.user, "user").get("exec")
    if stanza is None:
        return None
    cluster = _entry(raw, "clusters", single.context.cluster, "cluster")
    try:
        return ExecAuth(execauth.parse(stanza, cluster=cluster, base=path.parent))
    except ValueError as err:
        raise KubeconfigError(f"{where}: user {single.context.user!r}: {err}") from None


def _entry(raw: dict[str, Any], section: str, name: str | None, field: str) -> dict[str, Any]:
    """`field` of the item called `name` in a kubeconfig list (`users`, `clusters`)."""
    for item in raw.get(section) or []:
        if (
            isinstance(item, dict)
            and item.get("name") == name
            and isinstance(item.get(field), dict)
        ):
            found: dict[str, Any] = item[field]
            return found
    return {}


def _current(config: KubeConfig, where: str) -> SingleConfig:
    """The current context, with its cluster and user, each checked to exist."""
    name = config.current_context
    if not name:
        raise KubeconfigError(
            f"{where}: no current-context is set (kubectl config use-context NAME)"
        )
    context = config.contexts.get(name)
    if context is None:
        raise KubeconfigError(f"{where}: current-context {name!r} is not one of its contexts")
    cluster = config.clusters.get(context.cluster)
    if cluster is None:
        raise KubeconfigError(
            f"{where}: context {name!r} names cluster {context.cluster!r}, which is not defined"
        )
    user = config.users.get(context.user) if context.user else User()
    if user is None:
        raise KubeconfigError(
            f"{where}: context {name!r} names user {context.user!r}, which is not defined"
        )
    return SingleConfig(name, context, cluster, user, config.fname)


def _connect(single: SingleConfig, plugin: ExecAuth | None, *, where: str) -> Connection:
    user = single.user or User()
    try:
        verify = verify_cluster(single.cluster, user, single.abs_file, trust_env=False)
        anonymous = verify_cluster(single.cluster, User(), single.abs_file, trust_env=False)
    except (OSError, ValueError, ConfigError) as err:  # ssl.SSLError is an OSError
        raise KubeconfigError(
            f"{where}: cannot load the certificates of context {single.context_name!r} "
            f"({_reason(err)})"
        ) from None
    if plugin is None and user.auth_provider:  # gcp, azure, oidc: removed from kubectl too
        raise KubeconfigError(
            f"{where}: user {single.context.user!r}: auth-provider not supported "
            "(use an exec plugin)"
        )
    credentials = plugin or _credentials(single)
    return Connection(single.cluster.server, verify, anonymous, credentials)


def _credentials(single: SingleConfig) -> Credentials | None:
    """The header credential of a user without an exec plugin, in client-go's precedence."""
    user = single.user or User()
    if user.token_file is not None:  # relative to the kubeconfig, as client-go reads it
        return TokenFile(Path(single.abs_file(user.token_file)))
    if user.token is not None:
        return Fixed.bearer(user.token)
    if user.username and user.password:
        return Fixed.basic(user.username, user.password)
    return None


def _reason(err: Exception) -> str:
    if isinstance(err, KeyError):
        return f"missing {err.args[0]!r}"
    if isinstance(err, OSError) and err.strerror:
        return f"{err.strerror}: {err.filename}" if err.filename else err.strerror
    return str(err) or type(err).__name__
