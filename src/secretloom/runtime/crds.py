"""Install secretloom's cluster objects with server-side apply and wait until they are in force.

Applying (not creating) makes installation idempotent and upgrades in place.
Objects are applied in the order given, one kind at a time, and each kind is
in force before the next is applied, so the caller can rely on them right away:

* a CustomResourceDefinition is in force once `Established` and its schema is
  published in the API server's OpenAPI v3 document;
* a ValidatingAdmissionPolicy once the control plane has type-checked it
  against the CRD schemas (`status.typeChecking` for the current generation,
  written by kube-controller-manager). A type warning is an error here: an
  expression that cannot evaluate fails closed and would refuse every request;
* a ValidatingAdmissionPolicyBinding as soon as it is stored: every API server
  picks up policy changes within its one-second refresh, which is why the
  bindings come after the policies they enforce.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterable

from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.resources import (
    ADMISSION_POLICIES,
    ADMISSION_POLICY_BINDINGS,
    CRDS,
    Resource,
)

FIELD_MANAGER = "secretloom-install"


class PolicyRejected(Exception):
    """The control plane found type errors in an admission policy's expressions."""


async def _established(client: KubeClient, crd: Obj) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    if not any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
        return False
    # Policies are type-checked against the published schema; until it is
    # published, the type check of a policy over this kind is silently skipped.
    spec = crd["spec"]
    for version in (v["name"] for v in spec["versions"] if v.get("served")):
        try:
            published = await client.get(f"/openapi/v3/apis/{spec['group']}/{version}")
        except ApiError as err:
            if err.status == 404:
                return False
            raise
        kinds = {
            gvk.get("kind")
            for schema in (published.get("components") or {}).get("schemas", {}).values()
            for gvk in schema.get("x-kubernetes-group-version-kind") or []
        }
        if spec["names"]["kind"] not in kinds:
            return False
    return True


async def _type_checked(_: KubeClient, policy: Obj) -> bool:
    status = policy.get("status") or {}
    if status.get("observedGeneration") != policy["metadata"]["generation"]:
        return False
    checked = status.get("typeChecking")
    warnings = (checked or {}).get("expressionWarnings") or []
    if warnings:
        found = "; ".join(f"{w['fieldRef']}: {w['warning']}" for w in warnings)
        raise PolicyRejected(f"{policy['metadata']['name']}: {found}")
    return checked is not None


async def _stored(_: KubeClient, __: Obj) -> bool:
    return True


InForce = Callable[[KubeClient, Obj], Awaitable[bool]]
# kind -> where it lives, when it is in force, and what to say when it is not in time.
_KINDS: dict[str, tuple[Resource, InForce, str]] = {
    "CustomResourceDefinition": (CRDS, _established, "established and published"),
    "ValidatingAdmissionPolicy": (
        ADMISSION_POLICIES,
        _type_checked,
        "type-checked (is kube-controller-manager's "
        "validatingadmissionpolicy-status-controller running?)",
    ),
    "ValidatingAdmissionPolicyBinding": (ADMISSION_POLICY_BINDINGS, _stored, "stored"),
}


async def install(client: KubeClient, objects: Iterable[Obj], timeout: float = 60.0) -> None:
    """Apply cluster-scoped `objects` in order, each kind in force before the next."""
    for kind, group in itertools.groupby(objects, key=lambda o: str(o["kind"])):
        resource, in_force, state = _KINDS[kind]
        paths = []
        for obj in group:
            path = resource.path(name=obj["metadata"]["name"])
            await client.apply(path, obj, field_manager=FIELD_MANAGER, force=True)
            paths.append(path)
        for path in paths:
            try:
                async with asyncio.timeout(timeout):
                    while not await in_force(client, await client.get(path)):
                        await asyncio.sleep(0.1)
            except TimeoutError:
                raise TimeoutError(f"{path} not {state} within {timeout:.0f}s") from None
