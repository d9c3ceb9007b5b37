"""Converted manifests on the real control plane produce the targets the source tools would.

For each source tool, its manifests (tests/migrate/fixtures/) are moved to the
test's namespace, converted by `secretloom.migrate`, applied as a user would
(`kubectl apply` of the output) and reconciled by the real controller, reading
a real OpenBao. The expectations are the source tools' documented behaviour:

* Kyverno (seed 000): the shell Secret from the chart keeps its owner and each
  source's key lands in it, one writer per rule's source;
* External Secrets: Owner creates the Secret (ownerReference), Merge adds keys
  to an existing one beside others', `dataFrom.extract` copies every property,
  the kubernetes provider copies a Secret's key, a template renames a key;
* VSO: `create: true` creates the Secret with every KV key, `create: false`
  adds them to an existing Secret.
Each key's owner is the SecretSync converted from the object that wrote it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from secretloom.migrate import convert
from secretloom.runtime.kube import KubeClient, Obj
from secretloom.runtime.resources import SECRET_STORES, SECRET_SYNCS
from secretloom.testing import cluster as local
from secretloom.testing.openbao import OpenBaoServer
from tests.e2e import kit
from tests.e2e import stores_kit as sk
from tests.openbao.support import KV2, make_token, read_policy, write_policy

FIXTURES = Path(__file__).resolve().parents[1] / "migrate" / "fixtures"
SHELL = "argocd-notifications-secret"


def converted(name: str, namespace: str, **rewrite: Any) -> list[Obj]:
    """The fixture moved to `namespace` (addresses and mounts rewritten), converted."""
    docs = [d for d in yaml.safe_load_all((FIXTURES / name).read_text()) if d]
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
        spec = doc["spec"]
        if "vault" in (spec.get("provider") or {}):
            spec["provider"]["vault"]["server"] = rewrite["address"]
        if doc["kind"] == "VaultConnection":
            spec["address"] = rewrite["address"]
        if doc["kind"] == "VaultAuth":
            spec["mount"] = rewrite["auth_mount"]
        if doc["kind"] == "SecretStore" and "kubernetes" in spec["provider"]:
            spec["provider"]["kubernetes"]["remoteNamespace"] = namespace
    result = convert(docs)
    assert result.unconverted == []
    return result.manifests


async def apply_all(kube: KubeClient, manifests: list[Obj]) -> None:
    for doc in manifests:
        meta = doc["metadata"]
        resource = SECRET_STORES if doc["kind"] == "SecretStore" else SECRET_SYNCS
        path = resource.path(meta["namespace"], meta["name"])
        await kube.apply(path, doc, field_manager="kubectl", force=True)


async def target(kube: KubeClient, namespace: str, name: str, expected: dict[str, str]) -> Obj:
    found: Obj = {}

    async def probe() -> bool:
        nonlocal found
        found = await kit.get_secret(kube, namespace, name) or {}
        return kit.values(found) == expected

    await kit.eventually(probe, timeout=30)
    return found


def key_owners(secret: Obj) -> dict[str, set[str]]:
    return {m: keys for m, keys in kit.owners(secret).items() if keys}


async def test_the_seed_policy_converted_composes_the_notifications_secret(
    kube: KubeClient, namespace: str
) -> None:
    await kit.put_secret(kube, namespace, SHELL, {}, manager="helm")
    await kit.put_secret(
        kube, namespace, f"{SHELL}-gitlab-merge", {"gitlab-token": "gl-1"}, manager="vso"
    )
    await kit.put_secret(
        kube, namespace, f"{SHELL}-grafana-merge", {"grafana-api-key": "gf-1"}, manager="vso"
    )
    async with kit.controller(kube, namespace):
        await apply_all(kube, converted("seed-000-policy.yaml", namespace))
        secret = await target(
            kube, namespace, SHELL, {"gitlab-token": "gl-1", "grafana-api-key": "gf-1"}
        )
        # Kyverno's rule fires on an UPDATE of the source: so does the SecretSync.
        await kit.put_secret(
            kube, namespace, f"{SHELL}-grafana-merge", {"grafana-api-key": "gf-2"}, manager="vso"
        )
        await target(kube, namespace, SHELL, {"gitlab-token": "gl-1", "grafana-api-key": "gf-2"})
    assert key_owners(secret) == {
        f"secretloom/{namespace}/{SHELL}-gitlab-merge": {"gitlab-token"},
        f"secretloom/{namespace}/{SHELL}-grafana-merge": {"grafana-api-key"},
    }
    assert "helm" in kit.owners(secret)  # the chart's shell keeps its owner


async def test_external_secrets_converted_produce_esos_targets(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any
) -> None:
    values = {
        "apps/db": {"username": "app", "password": "pw-1"},
        "apps/grafana": {"api-key": "gf-1"},
        "apps/config": {"mode": "fast", "region": "eu"},
    }
    for path, data in values.items():
        sk.seed(root, path, **data)
    token = make_token(root, write_policy(root, read_policy(*(f"{KV2}/data/{p}" for p in values))))
    await sk.put_token(kube, namespace, token)
    await kit.put_secret(kube, namespace, SHELL, {"other": "kept"}, manager="helm")
    await kit.put_secret(kube, namespace, "gitlab-source", {"token": "gl-1"}, manager="team")
    async with sk.controller(kube, namespace):
        await apply_all(kube, converted("eso.yaml", namespace, address=bao.address))
        db = await target(kube, namespace, "db-credentials", values["apps/db"])
        config = await target(kube, namespace, "app-config", values["apps/config"])
        shell = await target(
            kube,
            namespace,
            SHELL,
            {"other": "kept", "grafana-api-key": "gf-1", "gitlab-token": "gl-1"},
        )
    manager = f"secretloom/{namespace}/"
    assert key_owners(db) == {f"{manager}db-credentials": {"username", "password"}}
    (owner,) = db["metadata"]["ownerReferences"]  # creationPolicy Owner: garbage-collected
    assert (owner["kind"], owner["name"]) == ("SecretSync", "db-credentials")
    assert key_owners(config) == {f"{manager}app-config": {"mode", "region"}}
    assert "ownerReferences" not in config["metadata"]  # Orphan: left behind
    assert key_owners(shell) == {
        "helm": {"other"},
        f"{manager}grafana-token": {"grafana-api-key"},
        f"{manager}gitlab-token": {"gitlab-token"},
    }


async def test_vault_static_secrets_converted_produce_vsos_targets(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any, cluster: local.Cluster
) -> None:
    values = {
        "apps/gitlab": {"token": "gl-1", "url": "https://gitlab"},
        "apps/grafana": {"grafana-api-key": "gf-1"},
    }
    for path, data in values.items():
        sk.seed(root, path, **data)
    policy = write_policy(root, read_policy(*(f"{KV2}/data/{p}" for p in values)))
    mount = sk.kubernetes_auth(root, cluster, namespace, policy)
    await kit.put_secret(kube, namespace, SHELL, {}, manager="helm")
    async with sk.controller(kube, namespace):
        await sk.create_service_account(kube, namespace)
        manifests = converted("vso.yaml", namespace, address=bao.address, auth_mount=mount)
        await apply_all(kube, manifests)
        created = await target(kube, namespace, "gitlab-creds", values["apps/gitlab"])
        shell = await target(kube, namespace, SHELL, values["apps/grafana"])
    manager = f"secretloom/{namespace}/"
    assert key_owners(created) == {f"{manager}gitlab": {"token", "url"}}
    assert created["metadata"]["ownerReferences"][0]["name"] == "gitlab"
    assert key_owners(shell) == {f"{manager}grafana": {"grafana-api-key"}}


async def test_the_converted_policy_like_kyverno_never_creates_the_target(
    kube: KubeClient, namespace: str
) -> None:
    await kit.put_secret(
        kube, namespace, f"{SHELL}-gitlab-merge", {"gitlab-token": "gl-1"}, manager="vso"
    )
    async with kit.controller(kube, namespace):
        await apply_all(kube, converted("seed-000-policy.yaml", namespace))
        await kit.wait_condition(
            kube, namespace, f"{SHELL}-gitlab-merge", "Ready", "False", reason="TargetMissing"
        )
        assert await kit.get_secret(kube, namespace, SHELL) is None
        # The shell appears (the chart's sync wave): the key lands without a source event.
        await kit.put_secret(kube, namespace, SHELL, {}, manager="helm")
        await target(kube, namespace, SHELL, {"gitlab-token": "gl-1"})
