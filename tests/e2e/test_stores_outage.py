"""A provider that is sealed, then killed, then back: the target is never touched meanwhile.

The whole point of last-known-good: while the store fails, the target keeps
every key byte for byte (no write at all: its resourceVersion does not move),
the SecretSync says ProviderError with the reason, retries back off, and once
the server answers again the target converges with nobody touching anything.
"""

from __future__ import annotations

from typing import Any

from secretloom.runtime.kube import KubeClient
from secretloom.testing.openbao import OpenBaoServer
from tests.e2e import kit
from tests.e2e import stores_kit as sk
from tests.openbao.support import unique

TARGET = "argocd-notifications-secret"


async def test_sealed_then_killed_keeps_the_target_and_a_restart_converges(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any
) -> None:
    path = unique("argocd/grafana")
    sk.seed(root, path, **{"api-key": "gf-1"})
    # A dev server forgets every token it issued when it restarts; its root token it keeps.
    spec = sk.sync(TARGET, {"grafana-api-key": sk.from_store("vault", path, "api-key")}, "1s")
    async with sk.controller(kube, namespace):
        await kit.put_secret(kube, namespace, TARGET, {"other": "helm-owned"}, manager="helm")
        await sk.put_token(kube, namespace, bao.root_token)
        await sk.apply_store(kube, namespace, "vault", sk.vault(bao.address))
        await kit.apply_sync(kube, namespace, "grafana", spec)
        await kit.wait_condition(kube, namespace, "grafana", "Ready")
        good = await kit.get_secret(kube, namespace, TARGET)
        assert good is not None
        assert kit.values(good) == {"other": "helm-owned", "grafana-api-key": "gf-1"}

        async with kit.TargetWatch(kube, namespace, TARGET) as watch:
            root.sys.seal()
            sealed = await kit.wait_condition(kube, namespace, "grafana", "ProviderError")
            condition = kit.condition(sealed, "ProviderError")
            assert condition["reason"] == "Unavailable"
            assert condition["message"].endswith("sealed or unavailable (HTTP 503)")
            (key,) = sealed["status"]["keys"]
            assert key["state"] == "ProviderError"
            assert key["message"].endswith("; the last synced value is kept")

            bao.kill()

            async def connection_failed() -> bool:
                synced = await kit.get_sync(kube, namespace, "grafana")
                message = str(kit.condition(synced, "ProviderError")["message"])
                return message.endswith("connection failed")

            await kit.eventually(connection_failed, timeout=10)
            assert watch.writes == []
            now = await kit.get_secret(kube, namespace, TARGET)
            assert now is not None
            assert now["data"] == good["data"]
            assert now["metadata"]["resourceVersion"] == good["metadata"]["resourceVersion"]

            bao.start()  # empty again: the seed re-creates the mounts, the owner the value
            sk.seed(root, path, **{"api-key": "gf-2"})

            async def converged() -> bool:
                return kit.values(await kit.get_secret(kube, namespace, TARGET)) == {
                    "other": "helm-owned",
                    "grafana-api-key": "gf-2",
                }

            await kit.eventually(converged, timeout=10)

            async def watched() -> bool:  # a GET can see the write before the watch does
                return bool(watch.writes)

            await kit.eventually(watched, timeout=5)
            assert len(watch.writes) == 1
        recovered = await kit.wait_condition(kube, namespace, "grafana", "Ready")
        assert kit.condition(recovered, "ProviderError")["status"] == "False"
        await sk.wait_store(kube, namespace, "vault")
