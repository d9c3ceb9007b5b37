"""The SealedSecret reconciler: keep its SecretSync, mirror its Ready (issue #13).

Level-triggered on the SealedSecret and on its SecretSync (the manager
enqueues the owner when an owned SecretSync changes). A SecretSync of the
same name that this SealedSecret does not own is never touched: Ready=False,
reason NameTaken. The SecretSync is applied with a field manager of its own
(`secretloom-sealedsecret`), forced, so an edit of its spec by hand is put
back. Deletion is the garbage collector's (ownerReference).

The same reconciler serves Bitnami's `bitnami.com/v1alpha1` SealedSecrets
when the operator asks (`--serve-bitnami-sealed-secrets`): only the parsing
(`translate.bitnami_spec`), the owner and the condition's name differ.

An apply of the SecretSync the API server refuses (422 for an invalid body,
403, ...) is `Ready=False` (`Synced` for Bitnami's kind), reason
`ApplyFailed` with the server's message, as a SecretSync reports a refused
target apply, and is tried again after a growing backoff (up to the refresh
policy's `backoff_max`); before, the exception escaped, the SealedSecret got
no status and the work queue retried it silently (a name over 63 characters
in the owner label did exactly that, see `translate`). 409, 429 and 5xx are
raised for the work queue to retry, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import ValidationError

from secretloom.api import sealedsecret as api
from secretloom.api.invalid import invalid_fields
from secretloom.api.secretsync import GROUP, VERSION
from secretloom.controllers.refresh import RefreshPolicy, jittered
from secretloom.controllers.sealedsecret.translate import (
    BITNAMI,
    SECRETLOOM,
    Owner,
    bitnami_spec,
    desired_sync,
    owned_by,
    status,
)
from secretloom.controllers.secretsync.plan import APPLY_FAILED
from secretloom.controllers.status import write_status
from secretloom.runtime.cache import Cache
from secretloom.runtime.informer import Key
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.queue import RateLimiter
from secretloom.runtime.reconcile import Result
from secretloom.runtime.resources import SECRET_SYNCS, Resource

SEALED_SECRETS = Resource(GROUP, VERSION, api.PLURAL)
BITNAMI_SEALED_SECRETS = Resource("bitnami.com", "v1alpha1", api.PLURAL)
FIELD_MANAGER = "secretloom-sealedsecret"
_MESSAGE_LIMIT = 1024  # of the API server's refusal, in the condition

log = logging.getLogger(__name__)


def _own_spec(obj: Obj) -> api.SealedSecretSpec:
    return api.SealedSecretSpec.model_validate(obj.get("spec") or {})


def _refused(err: ApiError) -> bool:
    """A refusal to report (the body, a permission), not a race or an overload to retry."""
    return 400 <= err.status < 500 and err.status not in (409, 429)


class SealedSecretReconciler:
    def __init__(
        self,
        client: KubeClient,
        sealed: Cache,
        syncs: Cache,
        *,
        resource: Resource = SEALED_SECRETS,
        owner: Owner = SECRETLOOM,
        parse: Callable[[Obj], api.SealedSecretSpec] = _own_spec,
        policy: RefreshPolicy | None = None,
    ) -> None:
        self._client = client
        self._sealed = sealed
        self._syncs = syncs
        self._resource = resource
        self._owner = owner
        self._parse = parse
        self._policy = policy or RefreshPolicy()
        self._retries: RateLimiter[Key] = RateLimiter(
            base_delay=self._policy.backoff_base, max_delay=self._policy.backoff_max
        )

    @classmethod
    def bitnami(cls, client: KubeClient, sealed: Cache, syncs: Cache) -> SealedSecretReconciler:
        return cls(
            client, sealed, syncs, resource=BITNAMI_SEALED_SECRETS, owner=BITNAMI,
            parse=bitnami_spec,
        )  # fmt: skip

    async def __call__(self, key: Key) -> Result:
        obj = self._sealed.get(key)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            self._retries.forget(key)
            return Result()
        namespace, name = key
        generation = int(obj["metadata"].get("generation") or 0)
        path = self._resource.path(namespace, name, "status")
        ready = self._owner.ready_type

        async def report(current: Obj | None, problem: tuple[str, str] | None) -> None:
            await write_status(
                self._client, self._sealed, path, obj, status(generation, current, problem, ready)
            )

        try:
            spec = self._parse(obj)
        except ValidationError as err:
            await report(None, ("InvalidSpec", f"invalid fields: {invalid_fields(err)}"))
            return Result()
        except ValueError as err:
            await report(None, ("InvalidSpec", str(err)))
            return Result()
        existing = self._syncs.get(key)
        if existing is not None and not owned_by(existing, obj):
            message = (
                f"a SecretSync named {name!r} exists and is not this SealedSecret's; "
                "rename one of them"
            )
            await report(None, ("NameTaken", message))
            return Result()
        desired = desired_sync(obj, spec, self._owner)
        current = existing
        if existing is None or existing.get("spec") != desired["spec"]:
            # At rest (a status change of the SecretSync) there is nothing to send.
            try:
                current = await self._client.apply(
                    SECRET_SYNCS.path(namespace, name),
                    desired,
                    field_manager=FIELD_MANAGER,
                    force=True,
                )
            except ApiError as err:
                if not _refused(err):
                    raise
                delay = jittered(self._retries.when(key), self._policy.jitter)
                log.warning(
                    "SecretSync apply refused",
                    extra={
                        "sealed": f"{namespace}/{name}",
                        "status": err.status,
                        "error": err.message,
                        "retry_in": delay,
                    },
                )
                refusal = f"{err.status} {err.reason}: {err.message}"[:_MESSAGE_LIMIT]
                message = f"the API server refused the SecretSync apply: {refusal}"
                await report(None, (APPLY_FAILED, message))
                return Result(requeue_after=delay)
        self._retries.forget(key)
        await report(current, None)
        return Result()
