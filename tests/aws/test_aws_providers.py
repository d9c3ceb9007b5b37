"""The AWS providers against a real AWS API emulator (moto on loopback): reads and pins."""

from __future__ import annotations

import json
from typing import Any

import pytest

from secretloom.providers.aws_parameterstore import ParameterStoreProvider
from secretloom.providers.aws_secretsmanager import SecretsManagerProvider
from secretloom.providers.protocol import InvalidConfig, NotFound, ValueRef
from secretloom.testing.moto import MotoServer

from .conftest import unique
from .support import OpenAWS

pytestmark = pytest.mark.moto


async def test_secrets_manager_reads_by_name_arn_property_and_whole_value(
    moto: MotoServer, sm: Any, open_aws: OpenAWS
) -> None:
    name = unique("app/db")
    arn = sm.create_secret(Name=name, SecretString=json.dumps({"user": "u1", "port": 5432}))["ARN"]
    provider = open_aws(SecretsManagerProvider, moto)
    await provider.validate()
    assert await provider.get(ValueRef(name, "user")) == b"u1"
    assert await provider.get(ValueRef(arn, "port")) == b"5432"
    assert json.loads(await provider.get(ValueRef(name))) == {"user": "u1", "port": 5432}
    assert await provider.get_all(ValueRef(name)) == {"user": b"u1", "port": b"5432"}


async def test_secrets_manager_binary_stages_and_version_ids(
    moto: MotoServer, sm: Any, open_aws: OpenAWS
) -> None:
    blob, name = unique("blob"), unique("rotating")
    sm.create_secret(Name=blob, SecretBinary=b"\x00\xffbinary")
    first = sm.create_secret(Name=name, SecretString='{"k":"v1"}')["VersionId"]
    sm.put_secret_value(SecretId=name, SecretString='{"k":"v2"}')
    provider = open_aws(SecretsManagerProvider, moto)
    assert await provider.get(ValueRef(blob)) == b"\x00\xffbinary"
    assert await provider.get(ValueRef(name, "k")) == b"v2"
    assert await provider.get(ValueRef(name, "k", stage="AWSPREVIOUS")) == b"v1"
    assert await provider.get(ValueRef(name, "k", version_id=first)) == b"v1"
    with pytest.raises(InvalidConfig, match="no numbered versions"):
        await provider.get(ValueRef(name, "k", version=1))
    with pytest.raises(InvalidConfig, match="not a JSON object"):
        await provider.get(ValueRef(blob, "k"))


async def test_secrets_manager_missing_secret_and_property_name_the_secret(
    moto: MotoServer, sm: Any, open_aws: OpenAWS
) -> None:
    name = unique("present")
    sm.create_secret(Name=name, SecretString='{"a":"value-not-shown"}')
    provider = open_aws(SecretsManagerProvider, moto)
    with pytest.raises(NotFound) as missing:
        await provider.get(ValueRef("absent-secret", "a"))
    assert "'absent-secret'" in str(missing.value)
    assert missing.value.__cause__ is None and missing.value.__context__ is None
    with pytest.raises(NotFound, match="property not found") as no_property:
        await provider.get(ValueRef(name, "b"))
    assert name in str(no_property.value) and "value-not-shown" not in str(no_property.value)


async def test_parameter_store_reads_versions_labels_and_secure_strings(
    moto: MotoServer, ssm: Any, open_aws: OpenAWS
) -> None:
    name = f"/{unique('team')}/db-password"
    ssm.put_parameter(Name=name, Value="p1", Type="SecureString")
    ssm.put_parameter(Name=name, Value="p2", Type="SecureString", Overwrite=True)
    ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["stable"])
    doc = f"/{unique('team')}/config"
    ssm.put_parameter(Name=doc, Value='{"url":"https://x"}', Type="String")
    provider = open_aws(ParameterStoreProvider, moto)
    await provider.validate()
    assert await provider.get(ValueRef(name)) == b"p2"
    assert await provider.get(ValueRef(name, version=1)) == b"p1"
    assert await provider.get(ValueRef(name, stage="stable")) == b"p1"
    assert await provider.get(ValueRef(doc, "url")) == b"https://x"
    with pytest.raises(NotFound, match=f"parameter '{name}' version 9"):
        await provider.get(ValueRef(name, version=9))


async def test_parameter_store_reads_a_path_recursively_across_pages(
    moto: MotoServer, ssm: Any, open_aws: OpenAWS
) -> None:
    root = f"/{unique('app')}"
    expected = {}
    for i in range(23):  # GetParametersByPath pages by 10: three pages
        name = f"{root}/svc{i % 3}/key{i}"
        ssm.put_parameter(Name=name, Value=f"v{i}", Type="SecureString")
        expected[f"svc{i % 3}_key{i}"] = f"v{i}".encode()
    provider = open_aws(ParameterStoreProvider, moto)
    before = moto.calls("GetParametersByPath")
    assert await provider.get_all(ValueRef(root)) == expected
    assert moto.calls("GetParametersByPath") - before >= 3
    with pytest.raises(NotFound, match="no parameters below"):
        await provider.get_all(ValueRef(f"/{unique('empty')}"))


async def test_parameter_store_refuses_two_names_for_one_key(
    moto: MotoServer, ssm: Any, open_aws: OpenAWS
) -> None:
    root = f"/{unique('clash')}"
    ssm.put_parameter(Name=f"{root}/a/b", Value="1", Type="String")
    ssm.put_parameter(Name=f"{root}/a_b", Value="2", Type="String")
    provider = open_aws(ParameterStoreProvider, moto)
    with pytest.raises(InvalidConfig, match="both map to key 'a_b'"):
        await provider.get_all(ValueRef(root))
