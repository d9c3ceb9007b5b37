"""TLS verified against a CA bundle from the store's namespace, and the namespace header."""

from __future__ import annotations

import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest

from secretloom.providers.protocol import (
    InvalidConfig,
    NotFound,
    Unauthorized,
    Unavailable,
    ValueRef,
)
from secretloom.testing import pki
from secretloom.testing.openbao import OpenBaoServer

from .support import (
    KV2,
    OpenProvider,
    assert_untrusted,
    make_approle,
    read_policy,
    store,
    token_objects,
    token_store,
    unique,
    write_policy,
)

pytestmark = pytest.mark.openbao

CA_REF = {"name": "vault-ca", "key": "ca.crt"}


def seed(client: Any, path: str, **values: str) -> None:
    client.secrets.kv.v2.create_or_update_secret(path=path, secret=values, mount_point=KV2)


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temp dir the provider writes its CA file to, watched by this test alone."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def files(directory: Path) -> dict[str, tuple[int, bytes]]:
    """Name -> (permission bits, content) of every file in `directory`."""
    return {p.name: (stat.S_IMODE(p.stat().st_mode), p.read_bytes()) for p in directory.iterdir()}


@pytest.mark.parametrize("kind", ["Secret", "ConfigMap"])
async def test_tls_with_the_ca_bundle_from_the_store_namespace(
    bao_tls: OpenBaoServer, open_provider: OpenProvider, private_tmp: Path, kind: str
) -> None:
    path = unique("app")
    seed(bao_tls.client(), path, k="v")
    objects = token_objects(bao_tls.root_token)
    (objects.secrets if kind == "Secret" else objects.configmaps)[
        (CA_REF["name"], CA_REF["key"])
    ] = bao_tls.ca_pem
    vault = open_provider(
        token_store(bao_tls.address, caProvider={"type": kind, **CA_REF}), objects
    )

    await vault.validate()
    assert await vault.get(ValueRef(path, "k")) == b"v"
    assert list(files(private_tmp).values()) == [(0o600, bao_tls.ca_pem)]
    await vault.close()
    assert files(private_tmp) == {}


# A TLS failure happens before the server ever answered as Vault, so the store's
# author reads the one "not a Vault server" message (an unverified TLS port is
# exactly what a scan would probe); the operator's log names the cause.
TLS_CAUSE = "TLS verification failed (does caProvider hold the server's CA?)"


async def test_tls_without_the_ca_is_unavailable(
    bao_tls: OpenBaoServer, open_provider: OpenProvider, caplog: pytest.LogCaptureFixture
) -> None:
    vault = open_provider(token_store(bao_tls.address), token_objects(bao_tls.root_token))
    with pytest.raises(Unavailable) as failed:
        await vault.validate()
    assert_untrusted(failed.value, caplog, TLS_CAUSE)


async def test_tls_with_another_ca_is_unavailable(
    bao_tls: OpenBaoServer,
    open_provider: OpenProvider,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    objects = token_objects(bao_tls.root_token)
    objects.secrets[(CA_REF["name"], CA_REF["key"])] = pki.generate(tmp_path).ca_cert.read_bytes()
    spec = token_store(bao_tls.address, caProvider={"type": "Secret", **CA_REF})
    with pytest.raises(Unavailable) as failed:
        await open_provider(spec, objects).get_all(ValueRef("app"))
    assert_untrusted(failed.value, caplog, TLS_CAUSE)


async def test_a_ca_bundle_without_certificates_is_invalid_config(
    bao_tls: OpenBaoServer, open_provider: OpenProvider, private_tmp: Path
) -> None:
    spec = token_store(bao_tls.address, caProvider={"type": "ConfigMap", **CA_REF})
    for junk in (b"", b"not a certificate", b"\xff"):
        objects = token_objects(bao_tls.root_token)
        objects.configmaps[(CA_REF["name"], CA_REF["key"])] = junk
        with pytest.raises(
            InvalidConfig, match=r"caProvider ConfigMap 'vault-ca' key 'ca\.crt' holds no PEM"
        ):
            await open_provider(spec, objects).validate()
    assert files(private_tmp) == {}


async def test_namespace_header_scopes_login_and_reads(
    bao: OpenBaoServer, root: Any, open_provider: OpenProvider
) -> None:
    namespace = unique("team")
    root.sys.create_namespace(path=namespace)
    scoped = bao.client(namespace=namespace)
    scoped.sys.enable_secrets_engine(backend_type="kv", path=KV2, options={"version": "2"})
    path = unique("app")
    seed(scoped, path, where="namespace")
    seed(root, path, where="root")
    app_role = make_approle(scoped, write_policy(scoped, read_policy(f"{KV2}/data/{path}")))

    vault = open_provider(
        store(bao.address, app_role.auth(), namespace=namespace), app_role.objects()
    )
    await vault.validate()
    assert await vault.get(ValueRef(path, "where")) == b"namespace"
    with pytest.raises(NotFound) as missing:
        await vault.get(ValueRef(path, "absent"))
    assert f"namespace '{namespace}' mount 'kv2'" in str(missing.value)

    # Without the header the same AppRole does not exist, and the root sees its own value.
    with pytest.raises(Unauthorized):
        await open_provider(store(bao.address, app_role.auth()), app_role.objects()).validate()
    unscoped = open_provider(token_store(bao.address), token_objects(bao.root_token))
    assert await unscoped.get(ValueRef(path, "where")) == b"root"
