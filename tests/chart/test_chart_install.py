"""`helm install` into a real control plane, the controller on the chart's own ServiceAccount.

The control plane has no kubelet, so the Deployment's pods never start; the
test plays the pod instead: it mints a token for the chart's ServiceAccount
(TokenRequest, as the kubelet would), and runs `secretloom controller` with
the flags read back from the installed Deployment. Every request the
controller makes is then authorized by the chart's RBAC and nothing else, so
the seed's scenario passing proves the chart's rules sufficient, and the
denials proves them narrow. Then `helm upgrade` (two replicas: leader election,
a PodDisruptionBudget, the Lease) and `helm uninstall`, which must leave
nothing of the release behind but the CRDs (Helm never deletes crds/).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from secretloom.api import crd
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.resources import CRDS, LEASES, SECRET_SYNCS
from secretloom.testing import cluster as local
from secretloom.testing import controller
from tests.chart import kit as chart_kit
from tests.chart.kit import NAMESPACE, RELEASE, Helm, one
from tests.e2e import kit

pytestmark = pytest.mark.cluster

EXAMPLE_NAMESPACE = "argocd"
# Knobs set away from their defaults, so the real CLI parses each flag the chart writes.
VALUES: dict[str, Any] = {
    "controller": {
        "storeServers": ["127.0.0.1/32", "vault.example.com:8200"],
        "tokenAudiences": ["vault", "openbao"],
        "workers": 2,
        "providerTimeout": 5,
        "aggregateWriters": 8,
        "normalEventsPerSecond": 0.5,
        "logLevel": "debug",
    }
}
MONITORING = {
    "prometheusRule": {"enabled": True},
    "grafanaDashboard": {"enabled": True},
    "replicas": 2,  # renders the no-leader alert too
}
RBAC = "/apis/rbac.authorization.k8s.io/v1"


async def crds_established(kube: KubeClient) -> None:
    async def established() -> bool:
        for resource in crd.RESOURCES:
            try:
                conditions = (await kube.get(CRDS.path(name=resource.name)))["status"]["conditions"]
            except (ApiError, KeyError):
                return False
            if not any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                return False
        return True

    await kit.eventually(established, timeout=30)


async def admission_in_force(
    kube: KubeClient, cluster: local.Cluster, manifest: list[Obj], namespace: str
) -> None:
    """Every policy the release installed is type-checked cleanly, and denies a tenant."""
    policies = [o for o in manifest if o["kind"] == "ValidatingAdmissionPolicy"]
    assert policies

    async def type_checked() -> bool:
        for policy in policies:
            live = await kube.get(
                f"/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/"
                f"{policy['metadata']['name']}"
            )
            status = live.get("status") or {}
            if status.get("observedGeneration") != live["metadata"]["generation"]:
                return False
            checked = status.get("typeChecking")
            if checked is None:
                return False
            assert not checked.get("expressionWarnings"), checked
        return True

    await kit.eventually(type_checked, timeout=30)
    # A tenant who may create SecretSyncs but read no Secret: RBAC admits the
    # request, only the chart's policies refuse it.
    await kube.apply(
        f"{RBAC}/namespaces/{namespace}/roles/tenant",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "tenant", "namespace": namespace},
            "rules": [{"apiGroups": [crd.SECRET_SYNC.group], "resources": ["*"], "verbs": ["*"]}],
        },
        field_manager="test",
    )
    await kube.apply(
        f"{RBAC}/namespaces/{namespace}/rolebindings/tenant",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "tenant", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tenant"},
            "subjects": [
                {
                    "kind": "User",
                    "name": local.NONADMIN_USER,
                    "apiGroup": "rbac.authorization.k8s.io",
                }
            ],
        },
        field_manager="test",
    )
    probe = {
        "apiVersion": crd.SECRET_SYNC.api_version,
        "kind": crd.SECRET_SYNC.kind,
        "metadata": {"name": "probe"},
        "spec": kit.sync_spec("anything", {"k": ("someone-elses", "k")}),
    }
    async with KubeClient.from_kubeconfig(cluster.user_kubeconfig, qps=0) as tenant:

        async def denied() -> bool:
            try:
                await tenant.request(
                    "POST", SECRET_SYNCS.path(namespace), params={"dryRun": "All"}, body=probe
                )
            except ApiError as err:
                # Whichever policy answers first (source read or target write).
                return f'user "{local.NONADMIN_USER}" may not' in err.message
            return False

        await kit.eventually(denied, timeout=15)


async def test_cluster_wide_install_upgrade_uninstall(
    cluster_helm: Helm,
    bare_cluster: local.Cluster,
    bare_kube: KubeClient,
    repo_root: Path,
    tmp_path: Path,
    record_property: Any,
) -> None:
    await chart_kit.ensure_namespaces(bare_kube, NAMESPACE, EXAMPLE_NAMESPACE)
    installed = cluster_helm.install("install", VALUES)
    record_property("helm_install_seconds", round(installed, 2))
    manifest = cluster_helm.manifest()
    await crds_established(bare_kube)
    assert len(chart_kit.live(bare_cluster, manifest, tmp_path)) == len(manifest)
    await admission_in_force(bare_kube, bare_cluster, manifest, EXAMPLE_NAMESPACE)

    deployment = one(manifest, "Deployment")
    account = one(manifest, "ServiceAccount")["metadata"]["name"]
    token = await chart_kit.service_account_token(bare_kube, NAMESPACE, account)
    user = f"system:serviceaccount:{NAMESPACE}:{account}"
    kubeconfig = chart_kit.token_kubeconfig(bare_cluster, user, token, tmp_path / "sa.kubeconfig")
    log = tmp_path / "controller.log"
    with controller.running(kubeconfig, log, *chart_kit.controller_flags(deployment)) as (_, port):
        await chart_kit.composition_scenario(bare_kube, repo_root)
        exposition = controller.http_get(port, "/metrics")
    assert not chart_kit.forbidden_lines(log)

    # Every metric the alerts and the dashboard query is one the controller exports.
    monitoring = cluster_helm.template(VALUES | MONITORING)
    queries = yaml.safe_dump(one(monitoring, "PrometheusRule")["spec"]) + json.dumps(
        one(monitoring, "ConfigMap", f"{RELEASE}-dashboard")["data"]
    )
    referenced = chart_kit.referenced_metric_names(queries)
    assert len(referenced) >= 10, referenced
    assert referenced <= chart_kit.exposed_metric_names(exposition), (
        referenced - chart_kit.exposed_metric_names(exposition)
    )

    # Upgrade to two replicas: leader election on, a PDB, the Lease and its Role.
    upgraded = cluster_helm.install("upgrade", VALUES | {"replicas": 2})
    record_property("helm_upgrade_seconds", round(upgraded, 2))
    after = cluster_helm.manifest()
    added = {(o["kind"], o["metadata"]["name"]) for o in after} - {
        (o["kind"], o["metadata"]["name"]) for o in manifest
    }
    assert {kind for kind, _ in added} == {"PodDisruptionBudget", "Lease", "Role", "RoleBinding"}
    assert len(chart_kit.live(bare_cluster, after, tmp_path)) == len(after)
    flags = chart_kit.controller_flags(one(after, "Deployment"))
    assert "--leader-elect" in flags
    lease = one(after, "Lease")["metadata"]["name"]
    with controller.running(kubeconfig, tmp_path / "leader.log", *flags) as (_, port):

        async def leading() -> bool:
            holder = (await bare_kube.get(LEASES.path(NAMESPACE, lease)))["spec"]
            return bool(holder.get("holderIdentity")) and "secretloom_leader 1.0" in (
                controller.http_get(port, "/metrics")
            )

        await kit.eventually(leading, timeout=30)
    assert not chart_kit.forbidden_lines(tmp_path / "leader.log")
    async with KubeClient.from_kubeconfig(kubeconfig, qps=0) as identity:
        # Leases anywhere else stay out of reach (clusterrole.yaml grants them everywhere).
        assert await chart_kit.status_of(identity, LEASES.path("default", lease)) == 403

    # Sharded: the shard Leases replace the Lease, and the chart's Role is enough for a
    # replica to count members, take every shard while alone, and delete its member Lease.
    fast = {"leaseDuration": 3, "renewDeadline": 2, "retryPeriod": 0.5}
    sharded_values = VALUES | {"replicas": 2, "shards": 2, "leaderElection": fast}
    cluster_helm.install("upgrade", sharded_values)
    sharded = cluster_helm.manifest()
    shard_leases = sorted(o["metadata"]["name"] for o in sharded if o["kind"] == "Lease")
    assert shard_leases == [f"{RELEASE}-shard-0", f"{RELEASE}-shard-1"]
    flags = chart_kit.controller_flags(one(sharded, "Deployment"))
    assert "--shards=2" in flags
    with controller.running(kubeconfig, tmp_path / "sharded.log", *flags, "--identity", "alone"):

        async def holds_both() -> bool:
            leases = [await bare_kube.get(LEASES.path(NAMESPACE, n)) for n in shard_leases]
            return all(lease["spec"].get("holderIdentity") == "alone" for lease in leases)

        await kit.eventually(holds_both, timeout=30)
        await chart_kit.composition_scenario(bare_kube, repo_root)
    assert not chart_kit.forbidden_lines(tmp_path / "sharded.log")
    left = (await bare_kube.get(LEASES.path(NAMESPACE)))["items"]
    assert not [o for o in left if "-member-" in o["metadata"]["name"]]  # deleted on stop

    cluster_helm.run("uninstall", RELEASE, "--namespace", NAMESPACE)

    async def gone() -> bool:
        return not chart_kit.strays(bare_cluster, manifest + after + sharded, tmp_path)

    await kit.eventually(gone, timeout=30, interval=0.5)
    await crds_established(bare_kube)  # Helm keeps CRDs, and with them every SecretSync
    releases = bare_cluster.kubectl(
        "get", "secrets", "-n", NAMESPACE, "-l", "owner=helm", "-o", "name"
    )
    assert not releases.split()
