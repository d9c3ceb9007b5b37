"""Short-lived ServiceAccount tokens from the TokenRequest API.

Kubernetes auth to Vault needs a JWT the Vault server can verify with a
TokenReview. A token requested here is bound to the audiences asked for (so a
token meant for Vault is useless against the API server, and the reverse) and
expires after `expiration_seconds` (the API server's minimum is 10 minutes).
Nothing is stored: no long-lived `kubernetes.io/service-account-token`
Secret is ever created, and the token lives only in the caller's memory.

The token is returned, never logged; an `ApiError` here carries the API
server's Status message, which names the ServiceAccount, not the token.
"""

from __future__ import annotations

from collections.abc import Sequence

from secretloom.runtime.kube import SERVICE_ACCOUNTS, ApiError, KubeClient

MIN_EXPIRATION_SECONDS = 600


async def request_token(
    client: KubeClient,
    namespace: str,
    service_account: str,
    audiences: Sequence[str],
    *,
    expiration_seconds: int = MIN_EXPIRATION_SECONDS,
) -> str:
    """A token for `namespace/service_account`, valid for `audiences` only."""
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
    return token
