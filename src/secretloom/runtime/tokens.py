"""Short-lived ServiceAccount tokens from the TokenRequest API, on the operator's terms.

Kubernetes auth to Vault needs a JWT the Vault server can verify with a
TokenReview. A token requested here is bound to the audiences asked for and
expires after `expiration_seconds` (the API server's minimum is 10 minutes).
Nothing is stored: no long-lived `kubernetes.io/service-account-token`
Secret is ever created, and the token lives only in the caller's memory.

The audiences come from a store spec, which a tenant writes, and the token is
sent to the store's server, which the tenant chooses too. Left at that, the
controller mints, for any ServiceAccount of the namespace, a token for any
audience (the API server's own included) and posts it wherever the tenant
says: a tenant who may not create `serviceaccounts/token` gets an API
credential anyway (Vault Secrets Operator refused a user-chosen audience for
this reason, VSO PR #431; Kyverno GHSA-8p9x is the same confused-deputy
class). So the operator decides, in `TokenPolicy` (flags of `secretloom
controller`):

* `audiences`: the allow-list (`--token-audiences`, default `vault`). A
  request for any other audience is refused before the TokenRequest is made.
* `account_label`: optionally, a label the ServiceAccount must carry
  (`--token-service-account-label key=value`), so only accounts an admin
  marked for store logins can be used (needs `get` on serviceaccounts).
* Defence in depth, whatever the list says: the minted token is presented to
  the API server (a SelfSubjectReview made as that token); if the server
  accepts it, the token is dropped and refused. An operator who puts the API
  server's audience on the list, or a cluster whose `--api-audiences` covers
  `vault`, cannot turn a store login into an API credential leak.

The token is returned, never logged; errors name the ServiceAccount, the
namespace and the audiences, never the token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from secretloom.runtime.kube import ApiError, KubeClient
from secretloom.runtime.resources import SERVICE_ACCOUNTS

MIN_EXPIRATION_SECONDS = 600
# Secrets of this type hold a long-lived API credential: never read them as a store's.
SERVICE_ACCOUNT_TOKEN_TYPE = "kubernetes.io/service-account-token"  # noqa: S105
DEFAULT_AUDIENCES = frozenset({"vault"})


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """The operator's rules for tokens minted for store logins."""

    audiences: frozenset[str] = DEFAULT_AUDIENCES
    account_label: tuple[str, str] | None = None  # (key, value) the ServiceAccount must carry


class TokenRefused(Exception):
    """The policy forbids this token; the message is safe for a status condition."""


async def request_token(
    client: KubeClient,
    namespace: str,
    service_account: str,
    audiences: Sequence[str],
    *,
    policy: TokenPolicy,
    expiration_seconds: int = MIN_EXPIRATION_SECONDS,
) -> str:
    """A token for `namespace/service_account`, valid for `audiences` only, or TokenRefused."""
    account = f"ServiceAccount {service_account!r} in namespace {namespace!r}"
    refused = [a for a in audiences if a not in policy.audiences]
    if refused:
        allowed = ",".join(sorted(policy.audiences))
        raise TokenRefused(
            f"{account}: audience {refused[0]!r} is not allowed by the operator "
            f"(secretloom controller --token-audiences {allowed})"
        )
    if policy.account_label is not None:
        await _check_label(client, namespace, service_account, policy.account_label, account)
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": list(audiences),
            "expirationSeconds": max(expiration_seconds, MIN_EXPIRATION_SECONDS),
        },
    }
    path = SERVICE_ACCOUNTS.path(namespace, service_account, "token")
    answer = await client.create(path, body)
    token = (answer.get("status") or {}).get("token")
    if not isinstance(token, str) or not token:
        raise ApiError(500, "InternalError", "TokenRequest answered without a token")
    if await client.accepts_token(token):
        named = ", ".join(repr(a) for a in audiences)
        raise TokenRefused(
            f"{account}: a token for audience {named} is accepted by the Kubernetes API "
            "server; refusing to send it to a store"
        )
    return token


async def _check_label(
    client: KubeClient, namespace: str, name: str, label: tuple[str, str], account: str
) -> None:
    obj = await client.get(SERVICE_ACCOUNTS.path(namespace, name))
    key, value = label
    if ((obj.get("metadata") or {}).get("labels") or {}).get(key) != value:
        raise TokenRefused(
            f"{account} lacks the label {key}={value} the operator requires for store "
            "logins (secretloom controller --token-service-account-label)"
        )
