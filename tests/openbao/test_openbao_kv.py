"""Reading KV v2 and KV v1 mounts: properties, whole paths, versions, and what is absent."""

from __future__ import annotations

from typing import Any

import pytest

from secretloom.providers.protocol import InvalidConfig, NotFound, ValueRef
from secretloom.providers.vault import VaultProvider
from secretloom.testing.openbao import OpenBaoServer

from .support import KV1, KV2, OpenProvider, token_objects, token_store, unique

pytestmark = pytest.mark.openbao

DATA = {
    "password": "s3cret-ü",
    "port": 5432,
    "enabled": True,
    "ratio": 0.5,
    "nothing": None,
    "hosts": ["a", "b"],
    "tls": {"mode": "verify-full", "ca": "x"},
}


def root_reader(bao: OpenBaoServer, open_provider: OpenProvider, **fields: Any) -> VaultProvider:
    return open_provider(token_store(bao.address, **fields), token_objects(bao.root_token))


async def test_kv2_property_and_whole_path(
    bao: OpenBaoServer, root: Any, open_provider: OpenProvider
) -> None:
    path = unique("app")
    root.secrets.kv.v2.create_or_update_secret(path=path, secret=DATA, mount_point=KV2)
    vault = root_reader(bao, open_provider)

    assert await vault.get(ValueRef(path, "password")) == "s3cret-ü".encode()
    assert await vault.get(ValueRef(path, "port")) == b"5432"
    assert await vault.get_all(ValueRef(path, property="ignored")) == {
        "password": "s3cret-ü".encode(),
        "port": b"5432",
        "enabled": b"true",
        "ratio": b"0.5",
        "nothing": b"null",
        "hosts": b'["a","b"]',
        "tls": b'{"ca":"x","mode":"verify-full"}',
    }


async def test_kv2_pinned_version(
    bao: OpenBaoServer, root: Any, open_provider: OpenProvider
) -> None:
    path = unique("rotating")
    for value in ("first", "second", "third"):
        root.secrets.kv.v2.create_or_update_secret(
            path=path, secret={"key": value}, mount_point=KV2
        )
    vault = root_reader(bao, open_provider)

    assert await vault.get(ValueRef(path, "key")) == b"third"
    assert await vault.get(ValueRef(path, "key", version=1)) == b"first"
    assert await vault.get_all(ValueRef(path, version=2)) == {"key": b"second"}
    with pytest.raises(NotFound, match=r"version 9 property 'key' .*: not found \(HTTP 404\)"):
        await vault.get(ValueRef(path, "key", version=9))
    with pytest.raises(InvalidConfig, match="version must be 1 or more"):
        await vault.get(ValueRef(path, "key", version=0))


async def test_kv2_deleted_latest_version_is_not_found(
    bao: OpenBaoServer, root: Any, open_provider: OpenProvider
) -> None:
    path = unique("deleted")
    root.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "v"}, mount_point=KV2)
    root.secrets.kv.v2.delete_latest_version_of_secret(path=path, mount_point=KV2)
    with pytest.raises(NotFound, match="HTTP 404"):
        await root_reader(bao, open_provider).get(ValueRef(path, "k"))


async def test_kv1_property_and_whole_path(
    bao: OpenBaoServer, root: Any, open_provider: OpenProvider
) -> None:
    path = unique("legacy")
    root.secrets.kv.v1.create_or_update_secret(path=path, secret=DATA, mount_point=KV1)
    vault = root_reader(bao, open_provider, path=KV1, version="v1")

    assert await vault.get(ValueRef(path, "password")) == "s3cret-ü".encode()
    assert (await vault.get_all(ValueRef(path)))["hosts"] == b'["a","b"]'
    with pytest.raises(InvalidConfig, match="a version pin needs a KV v2 mount"):
        await vault.get(ValueRef(path, "password", version=1))


@pytest.mark.parametrize(("mount", "version"), [(KV2, "v2"), (KV1, "v1")])
async def test_missing_path_and_missing_property(
    bao: OpenBaoServer, root: Any, open_provider: OpenProvider, mount: str, version: str
) -> None:
    path = unique("present")
    if version == "v2":
        root.secrets.kv.v2.create_or_update_secret(path=path, secret={"a": "1"}, mount_point=mount)
    else:
        root.secrets.kv.v1.create_or_update_secret(path=path, secret={"a": "1"}, mount_point=mount)
    vault = root_reader(bao, open_provider, path=mount, version=version)

    with pytest.raises(NotFound) as missing_path:
        await vault.get_all(ValueRef("absent/path"))
    assert str(missing_path.value) == (
        f"vault {bao.address} mount '{mount}' path 'absent/path' (token auth): not found (HTTP 404)"
    )
    with pytest.raises(NotFound) as missing_property:
        await vault.get(ValueRef(path, "b"))
    assert str(missing_property.value) == (
        f"vault {bao.address} mount '{mount}' path '{path}' property 'b' (token auth): "
        "property not found"
    )


async def test_refused_references_never_reach_the_server(
    bao: OpenBaoServer, open_provider: OpenProvider
) -> None:
    vault = root_reader(bao, open_provider)
    before = len(bao.audit_entries())
    # `..` would be normalised by the HTTP stack and leave the mount: here it
    # would read the provider's own token back as a "value".
    for path, problem in [
        ("../../auth/token/lookup-self", "'.' or '..' segments"),
        ("a//b", "empty segments"),
        ("/", "must not be empty"),
    ]:
        with pytest.raises(InvalidConfig, match=problem):
            await vault.get_all(ValueRef(path))
    with pytest.raises(InvalidConfig, match="a property is required"):
        await vault.get(ValueRef("app"))
    assert len(bao.audit_entries()) == before


async def test_surrounding_slashes_are_ignored(
    bao: OpenBaoServer, root: Any, open_provider: OpenProvider
) -> None:
    path = unique("slashes")
    root.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "v"}, mount_point=KV2)
    assert await root_reader(bao, open_provider).get(ValueRef(f"/{path}/", "k")) == b"v"


async def test_validate_checks_the_mount_kind_and_version(
    bao: OpenBaoServer, open_provider: OpenProvider
) -> None:
    await root_reader(bao, open_provider).validate()
    await root_reader(bao, open_provider, path=KV1, version="v1").validate()

    with pytest.raises(InvalidConfig, match="the mount is KV v1 but the store says v2"):
        await root_reader(bao, open_provider, path=KV1).validate()
    with pytest.raises(InvalidConfig, match="the mount is KV v2 but the store says v1"):
        await root_reader(bao, open_provider, version="v1").validate()
    with pytest.raises(InvalidConfig, match=r"mount 'cubbyhole' .*not a KV secrets engine"):
        await root_reader(bao, open_provider, path="cubbyhole").validate()
