"""`--provider-timeout` on the real controller: a tarpit store is reported, not waited for.

Issue 10: a store answering one byte every few seconds never tripped a
per-read socket timeout, so its validation never ended. The operator's
deadline now reaches every store client the controller builds.
"""

from __future__ import annotations

import time

from secretloom.providers.vault import NOT_VAULT
from secretloom.runtime.kube import KubeClient
from tests.e2e import stores_kit as sk
from tests.openbao.hostile import Hostile, trickle

DEADLINE = 1.0


async def test_a_tarpit_store_is_unavailable_within_the_provider_timeout(
    kube: KubeClient, namespace: str
) -> None:
    with Hostile(trickle(0.25), passes_health=False) as tarpit:
        async with sk.controller(kube, namespace, provider_timeout=DEADLINE):
            await sk.put_token(kube, namespace, "t")
            start = time.monotonic()
            await sk.apply_store(kube, namespace, "tarpit", sk.vault(tarpit.address))
            # The default deadline (10 s) would outlast this wait: the flag is what ends it.
            store = await sk.wait_store(kube, namespace, "tarpit", "False", timeout=DEADLINE + 4)
            took = time.monotonic() - start
        assert tarpit.requests, "the tarpit was never asked: the test proves nothing"
    assert sk.reason_and_message(store, "Ready") == ("Unavailable", NOT_VAULT)
    assert took < DEADLINE + 4
