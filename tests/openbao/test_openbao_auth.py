"""Token, AppRole and Kubernetes auth; what is revoked on close; least-privilege policies."""

from __future__ import annotations

from typing import Any

import pytest

from secretloom.providers.protocol import InvalidConfig, Unauthorized, ValueRef
from secretloom.testing.openbao import OpenBaoServer

from .support import (
    KV2,
    Objects,
    OpenProvider,
    configure_kubernetes_auth,
    make_approle,
    make_token,
    read_policy,
    store,
    token_accessors,
    token_objects,
    token_store,
    unique,
    write_policy,
)

pytestmark = pytest.mark.openbao


def seed(root: Any, path: str, **values: str) -> None:
    root.secrets.kv.v2.create_or_update_secret(path=path, secret=values, mount_point=KV2)


async def test_token_auth_with_a_least_privilege_policy(
    bao: OpenBaoServer, root: Any, open_provider: OpenProvider
) -> None:
    app, other = unique("app"), unique("other")
    seed(root, app, password="p")
    seed(root, other, password="q")
    token = make_token(root, write_policy(root, read_policy(f"{KV2}/data/{app}")))
    vault = open_provider(token_store(bao.address), token_objects(token))

    await vault.validate()  # needs no grant beyond the read above
    assert await vault.get(ValueRef(app, "password")) == b"p"
    with pytest.raises(Unauthorized) as denied:
        await vault.get(ValueRef(other, "password"))
    assert str(denied.value) == (
        f"vault {bao.address} mount 'kv2' path '{other}' property 'password' (token auth): "
        "permission denied (HTTP 403)"
    )

    await vault.close()
    assert root.auth.token.lookup(token)["data"]["policies"], "a static token is never revoked"


async def test_validate_without_access_to_the_mount(
    bao: OpenBaoServer, root: Any, open_provider: OpenProvider
) -> None:
    token = make_token(root, write_policy(root, read_policy("kv1/*")))
    with pytest.raises(Unauthorized, match="no capability under the mount, or no such mount"):
        await open_provider(token_store(bao.address), token_objects(token)).validate()


async def test_revoked_token_is_unauthorized(
    bao: OpenBaoServer, root: Any, open_provider: OpenProvider
) -> None:
    path = unique("app")
    seed(root, path, k="v")
    token = make_token(root, write_policy(root, read_policy(f"{KV2}/data/*")))
    vault = open_provider(token_store(bao.address), token_objects(token))
    assert await vault.get(ValueRef(path, "k")) == b"v"

    root.auth.token.revoke(token)
    with pytest.raises(Unauthorized, match=r"\(token auth\): permission denied \(HTTP 403\)"):
        await vault.get(ValueRef(path, "k"))
    with pytest.raises(Unauthorized):
        await vault.validate()


async def test_ambient_vault_token_is_never_sent(
    bao: OpenBaoServer, root: Any, open_provider: OpenProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # hvac falls back to VAULT_TOKEN when given no token: before a login, the
    # provider must send none rather than the controller's ambient one.
    monkeypatch.setenv("VAULT_TOKEN", bao.root_token)
    path = unique("app")
    seed(root, path, k="v")
    app_role = make_approle(root, write_policy(root, read_policy(f"{KV2}/data/{path}")))
    vault = open_provider(store(bao.address, app_role.auth()), app_role.objects())
    assert await vault.get(ValueRef(path, "k")) == b"v"

    login_path = f"auth/{app_role.mount}/login"
    logins = [e["request"] for e in bao.audit_entries() if e["request"]["path"] == login_path]
    assert logins
    assert all(r.get("client_token", "") != bao.audit_hash(bao.root_token) for r in logins)


async def test_approle_login_read_and_revoke_on_close(
    bao: OpenBaoServer, root: Any, open_provider: OpenProvider
) -> None:
    path = unique("app")
    seed(root, path, k="v")
    app_role = make_approle(root, write_policy(root, read_policy(f"{KV2}/data/{path}")))
    vault = open_provider(store(bao.address, app_role.auth()), app_role.objects())

    before = token_accessors(root)
    await vault.validate()
    assert await vault.get(ValueRef(path, "k")) == b"v"
    issued = token_accessors(root) - before
    assert len(issued) == 1, "one login serves validate and every read"

    await vault.close()
    assert not issued & token_accessors(root), "the login token is revoked on close"
    await vault.close()  # idempotent


async def test_approle_wrong_secret_id(
    bao: OpenBaoServer, root: Any, open_provider: OpenProvider
) -> None:
    app_role = make_approle(root)
    objects = Objects(secrets={("approle", "secret-id"): b"not-the-secret-id\n"})
    vault = open_provider(store(bao.address, app_role.auth()), objects)
    with pytest.raises(Unauthorized) as rejected:
        await vault.get(ValueRef("app", "k"))
    assert str(rejected.value) == (
        f"vault {bao.address} mount 'kv2' (approle auth) login at auth/{app_role.mount}: "
        "credentials rejected (HTTP 400)"
    )


async def test_approle_token_is_renewed_before_it_expires(
    bao: OpenBaoServer, root: Any, open_provider: OpenProvider
) -> None:
    path = unique("app")
    seed(root, path, k="v")
    app_role = make_approle(root, write_policy(root, read_policy(f"{KV2}/data/*")), ttl="60s")
    now = [1000.0]
    vault = open_provider(
        store(bao.address, app_role.auth()), app_role.objects(), clock=lambda: now[0]
    )
    before = token_accessors(root)

    await vault.get(ValueRef(path, "k"))
    first = token_accessors(root) - before
    now[0] += 39  # under two thirds of the TTL: keep the token
    await vault.get(ValueRef(path, "k"))
    assert token_accessors(root) - before == first

    now[0] += 2  # past two thirds: log in again and revoke the old token
    assert await vault.get(ValueRef(path, "k")) == b"v"
    second = token_accessors(root) - before
    assert len(second) == 1
    assert second != first


async def test_credential_secret_must_hold_text(
    bao: OpenBaoServer, open_provider: OpenProvider
) -> None:
    for raw in (b"", b"  \n", b"\xff\xfe"):
        vault_objects = Objects(secrets={("vault-token", "token"): raw})
        vault = open_provider(token_store(bao.address), vault_objects)
        with pytest.raises(
            InvalidConfig, match="tokenSecretRef Secret 'vault-token' key 'token' is empty or not"
        ):
            await vault.validate()


async def test_kubernetes_login_sends_the_requested_service_account_token(
    bao: OpenBaoServer, bao_tls: OpenBaoServer, root: Any, open_provider: OpenProvider
) -> None:
    # The successful path needs a real kube-apiserver to answer the TokenReview
    # (the cluster e2e tests own that); here OpenBao is real and the JWT comes
    # from the injected token requester, so the login request itself is real.
    mount = configure_kubernetes_auth(root, bao_tls.ca_pem)
    jwt = "eyJhbGciOiJSUzI1NiJ9.e30.not-a-signature"

    def kubernetes(role: str) -> dict[str, Any]:
        account = {"name": "app", "audiences": ["vault", "extra"]}
        return {"kubernetes": {"mountPath": mount, "role": role, "serviceAccountRef": account}}

    objects = Objects(jwt=jwt)
    vault = open_provider(store(bao.address, kubernetes("app")), objects)
    with pytest.raises(Unauthorized) as denied:
        await vault.validate()
    assert str(denied.value) == (
        f"vault {bao.address} mount 'kv2' (kubernetes auth) login at auth/{mount} "
        "as role 'app' (service account 'app'): permission denied (HTTP 403)"
    )
    assert objects.token_requests == [("app", ("vault", "extra"))]
    logins = [e for e in bao.audit_entries() if e["request"]["path"] == f"auth/{mount}/login"]
    sent = {"jwt": bao.audit_hash(jwt), "role": bao.audit_hash("app")}
    assert logins[-1]["request"]["data"] == sent

    with pytest.raises(Unauthorized, match="credentials rejected \\(HTTP 400\\)"):
        await open_provider(store(bao.address, kubernetes("no-such-role")), objects).validate()


async def test_kubernetes_auth_needs_a_token_requester(
    bao: OpenBaoServer, open_provider: OpenProvider
) -> None:
    auth = {"kubernetes": {"role": "app", "serviceAccountRef": {"name": "app"}}}
    vault = open_provider(store(bao.address, auth), Objects(jwt=None))
    with pytest.raises(InvalidConfig, match="this controller cannot request tokens"):
        await vault.get_all(ValueRef("app"))
