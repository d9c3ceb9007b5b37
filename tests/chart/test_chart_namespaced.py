"""Namespaced mode: Roles in the watched namespaces only, and the real authorizer says no elsewhere.

`watchNamespaces: [argocd, team-b]` must install no cluster-scoped RBAC at
all, yet run the seed's scenario in `argocd` on the chart's ServiceAccount;
the same identity is refused (403) Secrets in a namespace it does not watch,
cluster-wide lists, ClusterSecretStores and Namespaces (ESO GHSA-fcxq,
CVE-2024-45041 class). A SecretSync outside the watched namespaces is never
touched.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from secretloom.api import crd
from secretloom.runtime.kube import KubeClient, Obj
from secretloom.runtime.resources import LEASES, NAMESPACES, SECRETS
from secretloom.testing import cluster as local
from secretloom.testing import controller
from tests.chart import kit as chart_kit
from tests.chart.kit import NAMESPACE, RELEASE, Helm, of_kind, one
from tests.e2e import kit

pytestmark = pytest.mark.cluster

WATCHED = ["argocd", "team-b"]
OUTSIDE = "outside"
VALUES: dict[str, Any] = {
    "watchNamespaces": WATCHED,
    # Adds `get serviceaccounts` to the Roles: the install must still be Roles only.
    "controller": {"tokenServiceAccountLabel": "secretloom.io/store-login=true"},
}
CLUSTER_STORES = f"/apis/{crd.CLUSTER_SECRET_STORE.group}/{crd.CLUSTER_SECRET_STORE.version}"


async def identity_of(
    kube: KubeClient, cluster: local.Cluster, manifest: list[Obj], scratch: Path
) -> Path:
    """A kubeconfig holding a fresh token of the release's ServiceAccount."""
    account = one(manifest, "ServiceAccount")["metadata"]["name"]
    token = await chart_kit.service_account_token(kube, NAMESPACE, account)
    user = f"system:serviceaccount:{NAMESPACE}:{account}"
    return chart_kit.token_kubeconfig(cluster, user, token, scratch / "sa.kubeconfig")


async def test_namespaced_install_runs_on_roles_only(
    cluster_helm: Helm,
    bare_cluster: local.Cluster,
    bare_kube: KubeClient,
    repo_root: Path,
    tmp_path: Path,
    record_property: Any,
) -> None:
    await chart_kit.ensure_namespaces(bare_kube, NAMESPACE, *WATCHED, OUTSIDE)
    refused = cluster_helm.refused(
        "install", RELEASE, str(cluster_helm.chart), "-n", NAMESPACE, "--set", "replicas=-1"
    )
    assert "/replicas" in refused, refused
    assert not cluster_helm.run("list", "-A", "-q").stdout.split()  # nothing was installed

    record_property("helm_install_seconds", round(cluster_helm.install("install", VALUES), 2))
    manifest = cluster_helm.manifest()
    assert not [o for o in manifest if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    assert {r["metadata"]["namespace"] for r in of_kind(manifest, "Role")} == set(WATCHED)
    assert len(chart_kit.live(bare_cluster, manifest, tmp_path)) == len(manifest)
    labelled = bare_cluster.kubectl(
        "get", "clusterroles,clusterrolebindings", "-l", chart_kit.INSTANCE
    )
    assert not labelled.strip()

    # A SecretSync the controller must never see, with a source it must never read.
    await kit.put_secret(bare_kube, OUTSIDE, "src", {"token": "outside"}, manager="vso")
    await kit.apply_sync(
        bare_kube, OUTSIDE, "sync", kit.sync_spec("target", {"token": ("src", "token")})
    )
    kubeconfig = await identity_of(bare_kube, bare_cluster, manifest, tmp_path)
    flags = chart_kit.controller_flags(one(manifest, "Deployment"))
    assert f"--namespaces={','.join(WATCHED)}" in flags
    log = tmp_path / "controller.log"
    with controller.running(kubeconfig, log, *flags):
        await chart_kit.composition_scenario(bare_kube, repo_root)
        await asyncio.sleep(1)  # time enough to wrongly touch the other namespace
        outside = await kit.get_sync(bare_kube, OUTSIDE, "sync")
        assert not outside.get("status")
        assert await kit.get_secret(bare_kube, OUTSIDE, "target") is None
    assert not chart_kit.forbidden_lines(log)

    async with KubeClient.from_kubeconfig(kubeconfig, qps=0) as identity:
        assert await chart_kit.status_of(identity, SECRETS.path(WATCHED[0])) == 200
        for path in (
            SECRETS.path(OUTSIDE, "src"),  # a Secret outside the watched namespaces
            SECRETS.path(OUTSIDE),
            SECRETS.path(),  # every namespace at once
            f"{CLUSTER_STORES}/{crd.CLUSTER_SECRET_STORE.plural}",
            NAMESPACES.path(),
            LEASES.path("kube-system"),
        ):
            assert await chart_kit.status_of(identity, path) == 403, path

    cluster_helm.run("uninstall", RELEASE, "--namespace", NAMESPACE)

    async def gone() -> bool:
        return not chart_kit.strays(bare_cluster, manifest, tmp_path)

    await kit.eventually(gone, timeout=30, interval=0.5)


async def test_namespaced_leader_election_holds_the_release_namespace_lease(
    cluster_helm: Helm, bare_cluster: local.Cluster, bare_kube: KubeClient, tmp_path: Path
) -> None:
    await chart_kit.ensure_namespaces(bare_kube, NAMESPACE, *WATCHED)
    cluster_helm.install("install", VALUES | {"replicas": 2})
    manifest = cluster_helm.manifest()
    kubeconfig = await identity_of(bare_kube, bare_cluster, manifest, tmp_path)
    lease = one(manifest, "Lease")["metadata"]
    flags = chart_kit.controller_flags(one(manifest, "Deployment"))
    with controller.running(kubeconfig, tmp_path / "controller.log", *flags):

        async def leading() -> bool:
            spec = (await bare_kube.get(LEASES.path(lease["namespace"], lease["name"])))["spec"]
            return bool(spec.get("holderIdentity"))

        await kit.eventually(leading, timeout=10)
