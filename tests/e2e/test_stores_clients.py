"""Pooled provider clients against real OpenBao: one login per store, revoked when replaced.

An AppRole store logs in once for every reader, however many leases; a spec
change replaces its client, whose token is revoked only when the last lease
on it ends; closing the pool revokes everything it logged in.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from secretloom.api.vault import VaultProviderSpec
from secretloom.controllers.secretstore.clients import ProviderClients
from secretloom.controllers.secretstore.lookup import StoreHandle
from secretloom.providers import registry
from secretloom.providers.egress import EgressPolicy
from secretloom.providers.protocol import ValueRef
from secretloom.runtime.kube import KubeClient
from secretloom.runtime.tokens import TokenPolicy
from secretloom.testing.openbao import OpenBaoServer
from tests.e2e import stores_kit as sk
from tests.openbao.support import (
    token_accessors,
)


async def test_one_login_per_store_revoked_when_replaced_and_on_close(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any
) -> None:
    path, app_role = sk.approle_path(root, "v")
    await sk.put_secret_id(kube, namespace, app_role)
    spec = VaultProviderSpec.model_validate(sk.vault(bao.address, app_role.auth()))
    handle = StoreHandle("SecretStore", namespace, "vault", "uid-1", 1, "vault", spec, namespace)
    clients = ProviderClients(kube, registry.load(), tokens=TokenPolicy(), egress=EgressPolicy())
    ref = ValueRef(path, "key")
    before = token_accessors(root)
    try:
        for _ in range(3):
            async with clients.lease(handle) as provider:
                assert await provider.get(ref) == b"v"
        first = token_accessors(root) - before
        assert len(first) == 1 and clients.created == 1

        newer = dataclasses.replace(handle, generation=2)
        async with clients.lease(handle) as held:
            async with clients.lease(newer) as replacement:
                assert await replacement.get(ref) == b"v"
            assert first <= token_accessors(root), "not revoked under a lease in progress"
            assert await held.get(ref) == b"v"
        assert not first & token_accessors(root), "revoked once the last lease ended"
        async with clients.lease(handle) as stale:  # an older handle keeps the newer client
            assert stale is not held
        assert clients.created == 2
    finally:
        await clients.close()
    assert token_accessors(root) - before == set()
