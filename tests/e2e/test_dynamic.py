"""Dynamic database credentials through a SecretSync (issue 14): control plane, OpenBao, PostgreSQL.

The role issues logins for 4 s, renewable to 12 s at most. The SecretSync
writes a lease's username and password together; they log in, and still log
in after their first TTL (renewed); a restarted controller renews the same
lease instead of issuing a second one (leases counted in OpenBao); near the
max TTL new credentials replace them and the old lease is revoked after the
grace period (its login fails); deleting the SecretSync revokes the lease.
Every password and lease id is a canary for logs, Events, status and metrics.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

import pytest
from prometheus_client import generate_latest

from secretloom.controllers.secretsync.leases import annotation_key
from secretloom.runtime import metrics
from secretloom.runtime.kube import KubeClient
from secretloom.runtime.logs import JsonFormatter
from secretloom.runtime.resources import EVENTS, SECRET_SYNCS
from secretloom.testing.openbao import OpenBaoServer
from secretloom.testing.postgres import PostgresServer
from tests.e2e import kit
from tests.e2e import stores_kit as sk
from tests.openbao.support import (
    MAX_TTL,
    TTL,
    database_engine,
    lease_policy,
    live_leases,
    make_token,
    unique,
    write_policy,
)

TARGET = "db-creds"


def dynamic_store(server: str, mount: str) -> dict[str, Any]:
    """The test's store, letting SecretSyncs issue from the database mount and nothing else."""
    return sk.vault(server, dynamicPaths=[f"{mount}/creds/*", f"{mount}/static-creds/*"])


async def credentials(kube: KubeClient, namespace: str) -> tuple[str, str, str]:
    target = await kit.get_secret(kube, namespace, TARGET)
    values = kit.values(target)
    lease_id = (
        ((target or {}).get("metadata") or {})
        .get("annotations", {})
        .get(annotation_key("db", 0), "")
    )
    return values.get("username", ""), values.get("password", ""), lease_id


async def test_a_lease_is_renewed_kept_across_restarts_replaced_and_revoked(
    kube: KubeClient,
    namespace: str,
    bao: OpenBaoServer,
    root: Any,
    postgres: PostgresServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    mount = database_engine(root, postgres)
    token = make_token(root, write_policy(root, lease_policy(mount)), ttl="1h")
    spec = {
        "target": {"name": TARGET},
        "dynamic": [
            {
                "store": {"name": "vault"},
                "path": f"{mount}/creds/app",
                "renewAtPercent": 50,
                "revokeGrace": "2s",
            }
        ],
    }
    seen: list[tuple[str, str, str]] = []
    async with sk.controller(kube, namespace):
        await sk.put_token(kube, namespace, token)
        await sk.apply_store(kube, namespace, "vault", dynamic_store(bao.address, mount))
        await kit.apply_sync(kube, namespace, "db", spec)
        await kit.wait_condition(kube, namespace, "db", "Ready", timeout=20)
        first = await credentials(kube, namespace)
        seen.append(first)
        user, password, lease_id = first
        assert user and password and lease_id
        assert postgres.can_login(user, password)
        status = (await kit.get_sync(kube, namespace, "db"))["status"]
        (lease,) = status["leases"]
        assert lease["ttlSeconds"] == TTL and lease["fingerprint"] not in lease_id
        assert live_leases(root, mount) == 1

        # Past its first TTL, renewed: the same login still works, and no second lease.
        await asyncio.sleep(TTL + 1)
        assert await credentials(kube, namespace) == first
        assert postgres.can_login(user, password)
        assert live_leases(root, mount) == 1

    # A new controller finds the lease on the target and renews it: no second lease.
    async with sk.controller(kube, namespace):
        await asyncio.sleep(TTL)
        assert await credentials(kube, namespace) == first
        assert postgres.can_login(user, password)
        assert live_leases(root, mount) == 1

        # Near the max TTL: new credentials, and the old lease revoked after the grace.
        async def replaced() -> bool:
            return (await credentials(kube, namespace))[0] not in ("", user)

        await kit.eventually(replaced, timeout=MAX_TTL + 5)
        second = await credentials(kube, namespace)
        seen.append(second)
        assert postgres.can_login(second[0], second[1])

        async def old_revoked() -> bool:
            return not postgres.can_login(user, password)

        await kit.eventually(old_revoked, timeout=10, interval=0.5)
        assert postgres.can_login(second[0], second[1])

        async def one_lease() -> bool:
            return live_leases(root, mount) == 1

        await kit.eventually(one_lease, timeout=10, interval=0.5)

        # Deletion revokes the lease.
        await kube.delete(SECRET_SYNCS.path(namespace, "db"))
        await kit.wait_all_finalized(kube, namespace)
        assert not postgres.can_login(second[0], second[1])
        assert live_leases(root, mount) == 0
        events, _ = await kube.list(EVENTS.path(namespace))

    emitted = {
        "logs": "\n".join(JsonFormatter().format(r) for r in caplog.records),
        "events": json.dumps(events),
        "status": json.dumps(status),
        "metrics": generate_latest(metrics.REGISTRY).decode(),
    }
    for where, text in emitted.items():
        for _, secret, lease in seen:
            for canary in (secret, lease, base64.b64encode(secret.encode()).decode()[:16]):
                assert canary not in text, f"a password or lease id leaked into {where}"


async def test_a_static_role_is_followed_through_its_rotations(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any, postgres: PostgresServer
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
    spec = {
        "target": {"name": TARGET},
        "dynamic": [{"store": {"name": "vault"}, "path": f"{mount}/static-creds/static"}],
    }
    async with sk.controller(kube, namespace):
        await sk.put_token(kube, namespace, token)
        await sk.apply_store(kube, namespace, "vault", dynamic_store(bao.address, mount))
        await kit.apply_sync(kube, namespace, "db", spec)
        await kit.wait_condition(kube, namespace, "db", "Ready", timeout=20)
        first, password, lease_id = await credentials(kube, namespace)
        assert (first, lease_id) == (user, "")  # no lease: nothing to annotate
        assert postgres.can_login(user, password)

        async def rotated() -> bool:
            _, now, _ = await credentials(kube, namespace)
            return now != password and postgres.can_login(user, now)

        await kit.eventually(rotated, timeout=15, interval=0.5)
        assert not postgres.can_login(user, password)


@pytest.mark.parametrize("aggregate_writers", [16, 1], ids=["own-manager", "then-aggregated"])
async def test_removing_the_entry_revokes_its_lease(
    kube: KubeClient,
    namespace: str,
    bao: OpenBaoServer,
    root: Any,
    postgres: PostgresServer,
    aggregate_writers: int,
) -> None:
    # Aggregated at 1 writer, the SecretSync turns aggregated once it is no
    # longer dynamic: its lease keys, held by its own manager, must still go.
    mount = database_engine(root, postgres)
    token = make_token(root, write_policy(root, lease_policy(mount)), ttl="1h")
    spec: dict[str, Any] = {
        "target": {"name": TARGET},
        "data": [{"key": "host", "from": {"secret": "db-host", "key": "host"}}],
        "dynamic": [{"store": {"name": "vault"}, "path": f"{mount}/creds/app"}],
    }
    async with sk.controller(kube, namespace, aggregate_writers=aggregate_writers):
        await sk.put_token(kube, namespace, token)
        await sk.apply_store(kube, namespace, "vault", dynamic_store(bao.address, mount))
        await kit.put_secret(kube, namespace, "db-host", {"host": "db"}, manager="dba")
        await kit.apply_sync(kube, namespace, "db", spec)
        await kit.wait_condition(kube, namespace, "db", "Ready", timeout=20)
        user, password, _ = await credentials(kube, namespace)
        assert postgres.can_login(user, password) and live_leases(root, mount) == 1

        del spec["dynamic"]
        await kit.apply_sync(kube, namespace, "db", spec)

        async def ended() -> bool:
            values = kit.values(await kit.get_secret(kube, namespace, TARGET))
            return values == {"host": "db"} and live_leases(root, mount) == 0

        await kit.eventually(ended, timeout=15, interval=0.5)
        assert not postgres.can_login(user, password)
        target = await kit.get_secret(kube, namespace, TARGET)
        assert annotation_key("db", 0) not in (target or {})["metadata"].get("annotations", {})
