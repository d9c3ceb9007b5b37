"""Dynamic database credentials (issue 14): real OpenBao database engine, real PostgreSQL.

The only evidence accepted is the database's: issued credentials log in with
`psql`, still log in after a renewal past their first TTL, and stop logging in
once the lease is revoked; a renewal near the max TTL grants less than asked
(the caller's cue to issue new credentials); a client that issued leases never
revokes its own token, which would revoke the leases with it. Short TTLs
(seconds). The superuser password, the issued password and the lease id are
canaries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import hvac
import pytest

from secretloom.providers.protocol import (
    InvalidConfig,
    Lease,
    LeaseProvider,
    NotFound,
    ProviderError,
    ValueRef,
)
from secretloom.testing.openbao import OpenBaoServer
from secretloom.testing.postgres import PostgresServer

from .support import (
    MAX_TTL,
    TTL,
    Objects,
    OpenProvider,
    database_engine,
    lease_policy,
    live_leases,
    make_approle,
    make_token,
    store,
    token_objects,
    token_store,
    unique,
    write_policy,
)

pytestmark = pytest.mark.openbao


def logs_in(pg: PostgresServer, lease: Lease) -> bool:
    return pg.can_login(lease.data["username"].decode(), lease.data["password"].decode())


async def test_issued_credentials_log_in_survive_renewal_and_die_on_revocation(
    bao: OpenBaoServer,
    root: Any,
    postgres: PostgresServer,
    open_provider: OpenProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    mount = database_engine(root, postgres)
    token = make_token(root, write_policy(root, lease_policy(mount)), ttl="1h")
    vault = open_provider(
        token_store(bao.address, dynamicPaths=[f"{mount}/*/*"]), token_objects(token)
    )
    assert isinstance(vault, LeaseProvider)

    issued_at = time.monotonic()
    lease = await vault.issue(ValueRef(f"{mount}/creds/app"))
    assert set(lease.data) == {"username", "password"}
    assert (lease.ttl, lease.renewable) == (TTL, True)
    assert len(lease.fingerprint) == 16 and lease.fingerprint not in lease.lease_id
    assert lease.lease_id not in repr(lease) and b"password" not in repr(lease).encode()
    assert logs_in(postgres, lease)

    # Renewed at half its TTL, it outlives its first TTL.
    await asyncio.sleep(TTL / 2)
    assert await vault.renew(lease.lease_id, TTL) == TTL
    await asyncio.sleep(issued_at + TTL + 1 - time.monotonic())
    assert logs_in(postgres, lease), "renewed credentials stopped working at the first TTL"

    # Renewed again, then near the max TTL a renewal grants less than asked: the cue to
    # issue new credentials before the lease ends.
    assert await vault.renew(lease.lease_id, TTL) == TTL
    await asyncio.sleep(max(0.0, issued_at + MAX_TTL - 4 - time.monotonic()))
    granted = await vault.renew(lease.lease_id, MAX_TTL)
    assert 0 < granted <= MAX_TTL - (time.monotonic() - issued_at) + 1 < MAX_TTL

    # A second lease, then the first revoked: it no longer logs in, the second does.
    fresh = await vault.issue(ValueRef(f"{mount}/creds/app"))
    assert fresh.data["username"] != lease.data["username"]
    await vault.revoke(lease.lease_id)
    assert not logs_in(postgres, lease)
    assert logs_in(postgres, fresh)
    with pytest.raises(NotFound) as gone:
        await vault.renew(lease.lease_id, TTL)
    await vault.revoke(fresh.lease_id)
    assert not logs_in(postgres, fresh)

    secrets = [
        lease.lease_id,
        lease.data["password"].decode(),
        fresh.data["password"].decode(),
        postgres.password,
        token,
    ]
    text = "\n".join([str(gone.value), *(r.getMessage() for r in caplog.records)])
    for secret in secrets:
        assert secret not in text


async def test_a_client_that_issued_leases_never_revokes_its_token(
    bao: OpenBaoServer, root: Any, postgres: PostgresServer
) -> None:
    """Vault revokes a token's leases with it: closing the client must not end the credentials."""
    from secretloom.providers.vault import VaultProvider

    mount = database_engine(root, postgres)
    app_role = make_approle(root, write_policy(root, lease_policy(mount)), ttl="1h")
    objects = Objects(secrets={("approle", "secret-id"): app_role.secret_id.encode()})
    vault = VaultProvider(
        store(bao.address, app_role.auth(), dynamicPaths=[f"{mount}/creds/*"]), objects.context()
    )
    try:
        lease = await vault.issue(ValueRef(f"{mount}/creds/app"))
    finally:
        await vault.close()
    assert logs_in(postgres, lease), "closing the client revoked the leases of its token"
    root.sys.revoke_lease(lease.lease_id)
    assert not logs_in(postgres, lease)


async def test_refusals_name_the_path_never_a_secret(
    bao: OpenBaoServer, root: Any, postgres: PostgresServer, open_provider: OpenProvider
) -> None:
    mount = database_engine(root, postgres)
    token = make_token(root, write_policy(root, lease_policy(mount)), ttl="1h")
    vault = open_provider(
        token_store(bao.address, dynamicPaths=[f"{mount}/*/*"]), token_objects(token)
    )
    with pytest.raises(ProviderError) as denied:
        await vault.issue(ValueRef(f"{mount}/creds/other"))
    assert f"path '{mount}/creds/other'" in str(denied.value)
    assert token not in str(denied.value)
    with pytest.raises(InvalidConfig):
        await vault.issue(ValueRef(f"{mount}/creds/../../sys/raw"))
    await vault.revoke(f"{mount}/creds/app/not-a-lease")  # idempotent: already gone is done


async def test_a_store_issues_only_what_its_dynamic_paths_list_and_never_its_own_token(
    bao: OpenBaoServer, root: Any, postgres: PostgresServer, open_provider: OpenProvider
) -> None:
    """`auth/token/lookup-self` answers every token with itself: issued, it would be a key."""
    mount = database_engine(root, postgres)
    # With Vault's default policy, as most tokens have: it may read auth/token/lookup-self.
    created = root.auth.token.create(policies=[write_policy(root, lease_policy(mount))], ttl="1h")
    token = created["auth"]["client_token"]
    unlisted = open_provider(
        token_store(bao.address, dynamicPaths=[f"{mount}/static-creds/*"]), token_objects(token)
    )
    with pytest.raises(InvalidConfig, match="the store's dynamicPaths do not list this path"):
        await unlisted.issue(ValueRef(f"{mount}/creds/app"))
    assert live_leases(root, mount) == 0

    anything = open_provider(token_store(bao.address, dynamicPaths=["*/*/*"]), token_objects(token))
    with pytest.raises(InvalidConfig, match="paths under auth/ are never issued") as refused:
        await anything.issue(ValueRef("auth/token/lookup-self"))
    assert token not in str(refused.value)
    # What the refusal withholds: the store's token may read its own id there.
    assert hvac.Client(url=bao.address, token=token).auth.token.lookup_self()["data"]["id"] == token


async def test_a_static_role_is_read_without_a_lease_and_rotated_by_the_engine(
    bao: OpenBaoServer, root: Any, postgres: PostgresServer, open_provider: OpenProvider
) -> None:
    mount = database_engine(root, postgres)
    user = unique("static").replace("-", "_")
    postgres.create_login_role(user, "initial-password")
    root.adapter.post(
        f"/v1/{mount}/static-roles/static",
        json={
            "db_name": "pg",
            "username": user,
            "rotation_period": 5,
            "rotation_statements": ["ALTER USER \"{{name}}\" WITH PASSWORD '{{password}}';"],
        },
    )
    policy = f'path "{mount}/static-creds/static" {{ capabilities = ["read"] }}'
    token = make_token(root, write_policy(root, policy), ttl="1h")
    vault = open_provider(
        token_store(bao.address, dynamicPaths=[f"{mount}/*/*"]), token_objects(token)
    )

    first = await vault.issue(ValueRef(f"{mount}/static-creds/static"))
    assert (first.lease_id, first.fingerprint, first.renewable) == ("", "", False)
    assert 0 < first.ttl <= 5
    assert first.data["username"].decode() == user
    assert not postgres.can_login(user, "initial-password")  # the engine rotated it at once
    assert logs_in(postgres, first)

    # The engine's own rotation, due after `ttl`; OpenBao's rotation queue ticks every few
    # seconds and a loaded machine adds more, so wait for it with a bound, not a fixed sleep.
    deadline = time.monotonic() + first.ttl + 20
    while logs_in(postgres, first) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert not logs_in(postgres, first)
    second = await vault.issue(ValueRef(f"{mount}/static-creds/static"))
    assert second.data["password"] != first.data["password"]
    assert logs_in(postgres, second)
