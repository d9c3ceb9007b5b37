"""The snippet installs the two ways docs/argocd.md gives, and Argo CD reads it both ways.

Merged into an existing argocd-cm (`kubectl patch --type merge`, what the
`argocd` fixture does) it must keep the team's own settings. Applied as a
fresh ConfigMap (a kustomize resource, the Helm chart) it must carry the
`app.kubernetes.io/part-of: argocd` label itself, or Argo CD's settings
manager never sees it and every health answer is null.
"""

from __future__ import annotations

import uuid

from secretloom.runtime.kube import KubeClient
from secretloom.runtime.resources import CONFIGMAPS, NAMESPACES
from secretloom.testing import cluster as local
from tests.argocd.argocd_cm import SNIPPET
from tests.argocd.conftest import TEAM_SETTING, ArgoCD
from tests.e2e import stores_kit as sk


async def test_the_merge_patch_keeps_the_teams_settings(kube: KubeClient, argocd: ArgoCD) -> None:
    data = (await kube.get(CONFIGMAPS.path(argocd.namespace, "argocd-cm")))["data"]
    assert {k: data[k] for k in TEAM_SETTING} == TEAM_SETTING
    assert "resource.customizations.health.secretloom.io_SecretSync" in data


async def test_the_snippet_as_a_fresh_argocd_cm_is_read_by_argo_cd(
    kube: KubeClient, cluster: local.Cluster, namespace: str, argocd: ArgoCD
) -> None:
    fresh = f"argocd-{uuid.uuid4().hex[:8]}"
    await kube.create(NAMESPACES.path(), {"metadata": {"name": fresh}})
    try:
        cluster.kubectl("-n", fresh, "create", "-f", str(SNIPPET))
        store = await sk.apply_store(kube, namespace, "vault", sk.vault("http://127.0.0.1:1"))
        health = await ArgoCD(argocd.bin_dir, argocd.kubeconfig, fresh).health(store)
        assert health == {
            "status": "Progressing",
            "message": "Waiting for secretloom to reconcile this SecretStore",
        }
    finally:
        await kube.delete(NAMESPACES.path(name=fresh))
