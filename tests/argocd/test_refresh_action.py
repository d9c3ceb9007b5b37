"""The `refresh` resource action, run as argocd-server runs it, on live SecretSyncs.

argocd-server reads the live object, runs the action's Lua in its VM, and
sends the JSON merge patch between the live and the returned object. The
harness does the first three with Argo CD's code and prints the patch; the
test sends exactly that patch to the API server, and the real controller must
then read the store again: the rotated value lands in the target long before
the 1h refresh interval, and `status.refreshRequest` changes. A second
request (a second later: within one second the value, and so the request,
is the same) must make the controller read the store once more.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

from secretloom.api import kubetime
from secretloom.api.secretsync import REFRESH_ANNOTATION
from secretloom.runtime.kube import KubeClient, Obj
from secretloom.runtime.resources import SECRET_SYNCS
from secretloom.testing.openbao import OpenBaoServer
from tests.argocd.conftest import ArgoCD
from tests.e2e import kit
from tests.e2e import stores_kit as sk
from tests.openbao.support import unique

TARGET = "app-secret"


def actions(result: Any) -> dict[str, bool]:
    """Action name -> disabled, as the Argo CD UI lists them."""
    return {a["name"]: a.get("disabled", False) for a in result["actions"]}


async def refresh(argocd: ArgoCD, kube: KubeClient, namespace: str, name: str) -> str:
    """Run the action on the live object, send argocd-server's patch; the value it set."""
    live = await kit.get_sync(kube, namespace, name)
    result = await argocd.action(live, "refresh")
    patch = result["patch"]
    value = patch["metadata"]["annotations"][REFRESH_ANNOTATION]
    # Nothing but the annotation: no status, no spec, no other metadata.
    assert patch == {"metadata": {"annotations": {REFRESH_ANNOTATION: value}}}
    assert value != (live["metadata"].get("annotations") or {}).get(REFRESH_ANNOTATION)
    await kube.merge_patch(SECRET_SYNCS.path(namespace, name), patch)
    return str(value)


def refresh_request(sync: Obj) -> str:
    return str(sync["status"].get("refreshRequest", ""))


async def test_refresh_is_offered_to_syncs_that_read_stores_only(
    kube: KubeClient, namespace: str, argocd: ArgoCD
) -> None:
    store_spec = sk.sync(TARGET, {"key": sk.from_store("vault", "app", "key")})
    from_store = await kit.apply_sync(kube, namespace, "from-store", store_spec)
    from_secret = await kit.apply_sync(
        kube, namespace, "from-secret", kit.sync_spec(TARGET, {"key": ("source", "key")})
    )
    assert actions(await argocd.action(from_store, "refresh")) == {"refresh": False}
    assert actions(await argocd.action(from_secret, "refresh")) == {"refresh": True}


async def test_the_refresh_action_makes_the_controller_read_the_store_now(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any, argocd: ArgoCD
) -> None:
    path = unique("app")
    sk.seed(root, path, key="v1")
    async with sk.controller(kube, namespace):
        await sk.put_token(kube, namespace, bao.root_token)
        await sk.apply_store(kube, namespace, "vault", sk.vault(bao.address))
        spec = sk.sync(TARGET, {"key": sk.from_store("vault", path, "key")}, refresh="1h")
        await kit.apply_sync(kube, namespace, "app", spec)
        before = refresh_request(await kit.wait_condition(kube, namespace, "app", "Ready"))
        sk.seed(root, path, key="v2")

        value = await refresh(argocd, kube, namespace, "app")
        moment = kubetime.parse(value)
        assert moment is not None
        assert abs((datetime.datetime.now(datetime.UTC) - moment).total_seconds()) < 60

        async def polled() -> bool:
            sync = await kit.get_sync(kube, namespace, "app")
            target = await kit.get_secret(kube, namespace, TARGET)
            return refresh_request(sync) not in ("", before) and kit.values(target) == {"key": "v2"}

        await kit.eventually(polled, timeout=10)
        first = refresh_request(await kit.get_sync(kube, namespace, "app"))

        sk.seed(root, path, key="v3")
        while datetime.datetime.now(datetime.UTC) < moment + datetime.timedelta(seconds=1):
            await asyncio.sleep(0.05)  # requests within one second are one request
        await refresh(argocd, kube, namespace, "app")

        async def polled_again() -> bool:
            sync = await kit.get_sync(kube, namespace, "app")
            target = await kit.get_secret(kube, namespace, TARGET)
            return refresh_request(sync) != first and kit.values(target) == {"key": "v3"}

        await kit.eventually(polled_again, timeout=10)
