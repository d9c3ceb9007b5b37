"""SecretSyncs reading AWS Secrets Manager and Parameter Store: real moto, real control plane.

Issue 16's proof: a target composed of a Secrets Manager JSON property, a
Parameter Store parameter and a Kubernetes Secret, each key with its own
owner; rotation within the refresh interval and on the refresh annotation;
zero writes at rest; IRSA with a token the real API server issued; wrong
credentials, a missing secret, throttling and an emulator outage each with a
clear condition while the last good value stays.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from typing import Any

from secretloom.api.secretsync import REFRESH_ANNOTATION
from secretloom.runtime.kube import KubeClient
from secretloom.runtime.resources import CLUSTER_SECRET_STORES, SECRET_SYNCS
from secretloom.testing.moto import MotoServer, body_of, operation_of
from tests.aws.conftest import moto, moto_session, sm, ssm, unique
from tests.aws.support import ROLE_ARN, block
from tests.e2e import aws_kit as ak
from tests.e2e import kit
from tests.e2e import stores_kit as sk
from tests.e2e.test_controller_process import extra_namespaces

__all__ = ["moto", "moto_session", "sm", "ssm"]  # fixtures, re-exported for this module

TARGET = "argocd-notifications-secret"
SM, SSM = "awsSecretsManager", "awsParameterStore"


async def test_secrets_manager_parameter_store_and_a_secret_compose_one_target(
    kube: KubeClient, namespace: str, moto: MotoServer, sm: Any, ssm: Any
) -> None:
    grafana, gitlab = unique("argocd/grafana"), f"/{unique('argocd')}/gitlab-token"
    sm.create_secret(Name=grafana, SecretString=json.dumps({"api-key": "gf-1", "org": 1}))
    ssm.put_parameter(Name=gitlab, Value="gl-1", Type="SecureString")
    async with sk.controller(kube, namespace):
        await kit.put_secret(kube, namespace, TARGET, {}, manager="helm")
        await kit.put_secret(kube, namespace, "slack", {"slack-token": "sl-1"}, manager="chat")
        await ak.put_keys(kube, namespace)
        await ak.apply_store(kube, namespace, "sm", moto, SM)
        await ak.apply_store(kube, namespace, "ssm", moto, SSM)
        syncs = {
            "grafana": ("grafana-api-key", sk.from_store("sm", grafana, "api-key")),
            "gitlab": ("gitlab-token", {"store": {"name": "ssm"}, "path": gitlab}),
            "slack": ("slack-token", {"secret": "slack", "key": "slack-token"}),
        }
        for name, (key, source) in syncs.items():
            await kit.apply_sync(kube, namespace, name, sk.sync(TARGET, {key: source}))
        for name in syncs:
            await kit.wait_condition(kube, namespace, name, "Ready")
        target = await kit.get_secret(kube, namespace, TARGET)
        assert target is not None
        assert kit.values(target) == {
            "grafana-api-key": "gf-1",
            "gitlab-token": "gl-1",
            "slack-token": "sl-1",
        }
        assert kit.owners(target) == {
            "helm": set(),
            **{f"secretloom/{namespace}/{name}": {key} for name, (key, _) in syncs.items()},
        }
        for store, provider in (("sm", "aws-secretsmanager"), ("ssm", "aws-parameterstore")):
            ready = await sk.wait_store(kube, namespace, store)
            assert ready["status"]["provider"] == provider
        status = (await kit.get_sync(kube, namespace, "gitlab"))["status"]
        assert status["keys"][0]["source"] == f"secretstore/ssm:{gitlab}"


async def test_rotation_lands_on_refresh_and_on_the_annotation_and_rest_writes_nothing(
    kube: KubeClient, namespace: str, moto: MotoServer, sm: Any, ssm: Any
) -> None:
    name, prefix = unique("rotating"), f"/{unique('app')}"
    sm.create_secret(Name=name, SecretString=json.dumps({"k": "v1"}))
    ssm.put_parameter(Name=f"{prefix}/db/user", Value="u1", Type="String")
    async with sk.controller(kube, namespace):
        await ak.put_keys(kube, namespace)
        await ak.apply_store(kube, namespace, "sm", moto, SM)
        await ak.apply_store(kube, namespace, "ssm", moto, SSM)
        polled = sk.sync("t1", {"k": sk.from_store("sm", name, "k")}, refresh="1s")
        data_from = [{"store": {"name": "ssm"}, "path": prefix, "prefix": "p-"}]
        hourly = sk.sync("t2", {}, refresh="1h", dataFrom=data_from)
        await kit.apply_sync(kube, namespace, "polled", polled)
        await kit.apply_sync(kube, namespace, "hourly", hourly)
        await kit.wait_condition(kube, namespace, "polled", "Ready")
        await kit.wait_condition(kube, namespace, "hourly", "Ready")
        assert kit.values(await kit.get_secret(kube, namespace, "t2")) == {"p-db_user": "u1"}

        async with kit.TargetWatch(kube, namespace, "t1") as watch:
            reads = moto.calls("GetSecretValue", containing=name)
            await asyncio.sleep(3.5)  # three refresh intervals, nothing changed
            assert watch.writes == []
            assert moto.calls("GetSecretValue", containing=name) - reads >= 2
            sm.put_secret_value(SecretId=name, SecretString=json.dumps({"k": "v2"}))

            async def landed() -> bool:
                return bool(watch.writes) and kit.values(watch.writes[-1]) == {"k": "v2"}

            await kit.eventually(landed, timeout=3.0)

        ssm.put_parameter(Name=f"{prefix}/db/user", Value="u2", Type="String", Overwrite=True)
        annotation = {"metadata": {"annotations": {REFRESH_ANNOTATION: "now"}}}
        await kube.merge_patch(SECRET_SYNCS.path(namespace, "hourly"), annotation)

        async def refreshed() -> bool:
            return kit.values(await kit.get_secret(kube, namespace, "t2")) == {"p-db_user": "u2"}

        await kit.eventually(refreshed, timeout=5.0)


async def test_irsa_with_a_token_the_api_server_issued(
    kube: KubeClient, namespace: str, moto: MotoServer, sm: Any
) -> None:
    name = unique("irsa")
    sm.create_secret(Name=name, SecretString=json.dumps({"k": "via-irsa"}))
    auth = {"jwt": {"roleArn": ROLE_ARN, "serviceAccountRef": {"name": "aws-reader"}}}
    async with sk.controller(kube, namespace, tokens=ak.IRSA_TOKENS):
        await sk.create_service_account(kube, namespace, "aws-reader")
        await ak.apply_store(kube, namespace, "irsa", moto, SM, auth=auth)
        spec = sk.sync("t", {"k": sk.from_store("irsa", name, "k")})
        await kit.apply_sync(kube, namespace, "irsa", spec)
        await kit.wait_condition(kube, namespace, "irsa", "Ready")
        assert kit.values(await kit.get_secret(kube, namespace, "t")) == {"k": "via-irsa"}

    exchanges = [e for e in moto.requests() if operation_of(e) == "AssumeRoleWithWebIdentity"]
    sent = [urllib.parse.parse_qs(body_of(e)) for e in exchanges]
    ours = [s for s in sent if s["RoleSessionName"] == [f"secretloom-{namespace}"]]
    assert ours and all(s["RoleArn"] == [ROLE_ARN] for s in ours)
    reviewed = await ak.review(kube, ours[-1]["WebIdentityToken"][0], "sts.amazonaws.com")
    assert reviewed["status"]["authenticated"] is True
    assert reviewed["status"]["user"]["username"] == (
        f"system:serviceaccount:{namespace}:aws-reader"
    )
    assert reviewed["status"]["audiences"] == ["sts.amazonaws.com"]


async def test_failures_give_clear_conditions_and_keep_the_last_good_value(
    kube: KubeClient, namespace: str, moto: MotoServer, sm: Any
) -> None:
    name = unique("kept")
    sm.create_secret(Name=name, SecretString=json.dumps({"k": "good"}))
    async with sk.controller(kube, namespace, provider_timeout=2.0):
        await ak.put_keys(kube, namespace)
        await ak.apply_store(kube, namespace, "sm", moto, SM)
        spec = sk.sync("t", {"k": sk.from_store("sm", name, "k")}, refresh="1s")
        await kit.apply_sync(kube, namespace, "app", spec)
        await kit.wait_condition(kube, namespace, "app", "Ready")

        async def expect(reason: str, *words: str) -> None:
            sync = await kit.wait_condition(kube, namespace, "app", "ProviderError", timeout=15)
            condition = kit.condition(sync, "ProviderError")
            for word in (name, *words):
                assert word in condition["message"], condition
            assert kit.values(await kit.get_secret(kube, namespace, "t")) == {"k": "good"}
            del reason

        moto.throttle(1000)
        await expect("Unavailable", "throttled by AWS")
        moto.throttle(0)
        await kit.wait_condition(kube, namespace, "app", "Ready", timeout=15)

        with moto.enforcing_auth():
            await expect("Unauthorized", "credentials rejected")
        await kit.wait_condition(kube, namespace, "app", "Ready", timeout=15)

        moto.kill()
        await expect("Unavailable", "connection failed")
        moto.start()  # empty: the secret is missing now
        sync = await kit.wait_condition(kube, namespace, "app", "SourceMissing", timeout=15)
        assert name in kit.condition(sync, "SourceMissing")["message"]
        assert kit.values(await kit.get_secret(kube, namespace, "t")) == {"k": "good"}


async def test_secretsyncs_naming_one_secret_share_its_reads(
    kube: KubeClient, namespace: str, moto: MotoServer, sm: Any
) -> None:
    name, syncs = unique("shared"), 8
    sm.create_secret(Name=name, SecretString=json.dumps({"k": "v1", "j": "other"}))
    async with sk.controller(kube, namespace):
        await ak.put_keys(kube, namespace)
        await ak.apply_store(kube, namespace, "sm", moto, SM)
        for index in range(syncs):
            prop = "kj"[index % 2]  # two properties of one secret: still one read
            spec = sk.sync(f"t{index}", {prop: sk.from_store("sm", name, prop)}, refresh="2s")
            await kit.apply_sync(kube, namespace, f"s{index}", spec)
        for index in range(syncs):
            await kit.wait_condition(kube, namespace, f"s{index}", "Ready")
        await asyncio.sleep(2.5)  # every SecretSync past its first (fresh) read
        before = moto.calls("GetSecretValue", containing=name)
        await asyncio.sleep(6.0)  # three intervals: 24 reads if each SecretSync read its own
        reads = moto.calls("GetSecretValue", containing=name) - before
        assert 1 <= reads <= 12, reads  # about one per half interval, whoever asks
        sm.put_secret_value(SecretId=name, SecretString=json.dumps({"k": "v2", "j": "other2"}))
        rotated = {"k": "v2", "j": "other2"}

        async def everywhere() -> bool:
            for index in range(syncs):
                target = await kit.get_secret(kube, namespace, f"t{index}")
                prop = "kj"[index % 2]
                if kit.values(target) != {prop: rotated[prop]}:
                    return False
            return True

        await kit.eventually(everywhere, timeout=2.0 * 1.5 + 2.0)  # 1.5 intervals + margin


async def test_a_cluster_store_keeps_vaults_scoping_and_its_credentials_namespace(
    kube: KubeClient, namespace: str, moto: MotoServer, sm: Any
) -> None:
    name, store = unique("cluster"), unique("aws")
    sm.create_secret(Name=name, SecretString=json.dumps({"k": "cluster-value"}))
    auth = {"jwt": {"roleArn": ROLE_ARN, "serviceAccountRef": {"name": "aws-reader"}}}
    spec = {
        "provider": {SM: block(moto, auth=auth)},
        "credentialsNamespace": namespace,  # the ServiceAccount lives here only
        "namespaces": [],
    }
    sync = sk.sync("t", {"k": sk.from_store(store, name, "k", "ClusterSecretStore")})
    async with extra_namespaces(kube, 2) as (listed, other):
        spec["namespaces"] = [listed]
        async with sk.controller(kube, listed, other, tokens=ak.IRSA_TOKENS):
            await sk.create_service_account(kube, namespace, "aws-reader")
            await sk.apply_cluster_store(kube, store, spec)
            try:
                await kit.apply_sync(kube, listed, "app", sync)
                await kit.wait_condition(kube, listed, "app", "Ready")
                assert kit.values(await kit.get_secret(kube, listed, "t")) == {"k": "cluster-value"}
                reads = moto.calls("GetSecretValue", containing=name)
                await kit.apply_sync(kube, other, "app", sync)
                await kit.wait_condition(
                    kube, other, "app", "Ready", "False", reason="NamespaceNotAllowed"
                )
                assert await kit.get_secret(kube, other, "t") is None
                assert moto.calls("GetSecretValue", containing=name) == reads
            finally:
                await kube.delete(CLUSTER_SECRET_STORES.path(None, store))
    sessions = [
        urllib.parse.parse_qs(body_of(e))["RoleSessionName"][0]
        for e in moto.requests()
        if operation_of(e) == "AssumeRoleWithWebIdentity"
    ]
    assert f"secretloom-{namespace}" in sessions  # the token of the credentials namespace


async def test_irsa_needs_the_operators_audience(
    kube: KubeClient, namespace: str, moto: MotoServer
) -> None:
    auth = {"jwt": {"roleArn": ROLE_ARN, "serviceAccountRef": {"name": "aws-reader"}}}
    async with sk.controller(kube, namespace):  # --token-audiences left at its default, vault
        await sk.create_service_account(kube, namespace, "aws-reader")
        await ak.apply_store(kube, namespace, "irsa", moto, SM, auth=auth)
        store = await sk.wait_store(kube, namespace, "irsa", "False")
    reason, message = sk.reason_and_message(store, "Ready")
    assert reason == "InvalidConfig", store["status"]
    assert "audience 'sts.amazonaws.com' is not allowed by the operator" in message
