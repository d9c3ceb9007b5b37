"""One tenant's hung store stops nobody else (issue 10), on the real control plane.

Before: four SecretSyncs (the default worker count) reading a store that
answers one byte every few seconds held all four reconcile workers inside the
provider call, and a SecretSync in another namespace with only Kubernetes
sources got 0 of 10 updates while `/healthz` said ok. Now store polls run in
the background, bounded per namespace, and the workers stay free.

The attacker's store is a loopback tarpit (`tests.openbao.hostile`): it
accepts, then trickles one byte every two seconds, so the provider never gets
further than `sys/health`. The provider's own deadline is set far beyond the
test, so nothing but the controller's design can save the victim. And a hung
poll never stands in the way of a fixed store: changing the store drops it.
"""

from __future__ import annotations

from typing import Any

from secretloom.runtime.kube import KubeClient
from secretloom.runtime.resources import SECRET_SYNCS
from secretloom.testing.openbao import OpenBaoServer
from tests.e2e import kit
from tests.e2e import stores_kit as sk
from tests.e2e.test_controller_process import extra_namespaces
from tests.openbao.hostile import Hostile, trickle
from tests.openbao.support import unique

ATTACKERS = 4  # as many as the controller has workers
UPDATES = 10


async def test_a_tarpit_store_in_one_namespace_never_stops_a_victim_in_another(
    kube: KubeClient,
) -> None:
    with Hostile(trickle(2.0), passes_health=False) as tarpit:
        async with (
            extra_namespaces(kube, 2) as (attack, victim),
            sk.controller(
                kube, attack, victim, workers=ATTACKERS, provider_timeout=300.0
            ) as manager,
        ):
            await sk.put_token(kube, attack, "any-token")
            await sk.apply_store(kube, attack, "tarpit", sk.vault(tarpit.address))
            for i in range(ATTACKERS):
                spec = sk.sync(f"t{i}", {"k": sk.from_store("tarpit", f"p{i}", "k")})
                await kit.apply_sync(kube, attack, f"attacker-{i}", spec)

            async def hung() -> bool:
                return (
                    bool(tarpit.requests) and manager.reconciler.polls.running(attack) == ATTACKERS
                )

            await kit.eventually(hung, timeout=15)  # every attacker is now waiting on the tarpit

            await kit.put_secret(kube, victim, "source", {"k": "v0"}, manager="team")
            await kit.apply_sync(
                kube, victim, "victim", kit.sync_spec("out", {"k": ("source", "k")})
            )
            await kit.wait_condition(kube, victim, "victim", "Ready", timeout=15)
            for n in range(1, UPDATES + 1):
                await kit.put_secret(kube, victim, "source", {"k": f"v{n}"}, manager="team")

                async def delivered(value: str = f"v{n}") -> bool:
                    target = await kit.get_secret(kube, victim, "out")
                    return kit.values(target).get("k") == value

                await kit.eventually(delivered, timeout=15)
            assert manager.healthy()  # no reconcile is stuck: the workers never waited
            waiting = await kit.get_sync(kube, attack, "attacker-0")
            assert kit.condition(waiting, "Ready")["reason"] == "Pending"
            assert (
                await kit.get_secret(kube, attack, "t0") is None
            )  # nothing written, nothing blanked

            # Deleting the attackers cancels their polls; their finalizers run at once.
            for i in range(ATTACKERS):
                await kube.delete(SECRET_SYNCS.path(attack, f"attacker-{i}"))
            await kit.wait_all_finalized(kube, attack, timeout=15)

            async def cancelled() -> bool:
                return manager.reconciler.polls.running(attack) == 0

            await kit.eventually(cancelled, timeout=5)


async def test_fixing_a_hung_store_reads_again_at_once(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any
) -> None:
    path = unique("app")
    sk.seed(root, path, key="v")
    with Hostile(trickle(2.0), passes_health=False) as tarpit:
        async with sk.controller(kube, namespace, provider_timeout=300.0) as manager:
            await sk.put_token(kube, namespace, bao.root_token)
            await sk.apply_store(kube, namespace, "vault", sk.vault(tarpit.address))
            spec = sk.sync("t", {"key": sk.from_store("vault", path, "key")})
            await kit.apply_sync(kube, namespace, "app", spec)
            await kit.wait_condition(kube, namespace, "app", "Ready", "False", reason="Pending")

            async def hung() -> bool:
                return bool(tarpit.requests) and manager.reconciler.polls.running(namespace) == 1

            await kit.eventually(hung, timeout=15)
            # The store's author points it at the real server: the hung poll is dropped
            # and the SecretSync reads from the new one now, not after the old call ends.
            await sk.apply_store(kube, namespace, "vault", sk.vault(bao.address))
            await kit.wait_condition(kube, namespace, "app", "Ready", timeout=15)
            assert kit.values(await kit.get_secret(kube, namespace, "t")) == {"key": "v"}
