"""The chart as `helm lint` and `helm template` see it: schema, RBAC modes, the pod's hardening.

Every assertion reads what the real helm renders; a template regression
(a dropped securityContext field, leader election off with two replicas, a
ClusterRole in namespaced mode) fails here before any cluster is involved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import secretloom
from tests.chart.kit import NAMESPACE, Helm, container_args, of_kind, one

NAMESPACED = {"watchNamespaces": ["team-a", "team-b"]}
EVERYTHING = {
    "replicas": 3,
    "networkPolicy": {"enabled": True, "apiServer": {"cidrs": ["10.0.0.1/32"]}},
    "serviceMonitor": {"enabled": True},
    "prometheusRule": {"enabled": True},
    "grafanaDashboard": {"enabled": True},
    "argocd": {"cmp": {"enabled": True}, "healthChecks": {"enabled": True}},
    "controller": {"storeServers": ["vault.example.com:8200", "10.20.0.0/16"]},
}
CLUSTER_SCOPED_RBAC = {"ClusterRole", "ClusterRoleBinding"}


def flags(objects: list[dict[str, Any]]) -> list[str]:
    return container_args(one(objects, "Deployment"))


def test_the_scale_knobs_become_controller_flags_only_when_set(helm: Helm) -> None:
    values = {"controller": {"aggregateWriters": 0, "normalEventsPerSecond": 0}}
    args = flags(helm.template(values))
    assert "--aggregate-writers=0" in args  # 0 is a setting (off), not "unset"
    assert "--normal-events-per-second=0" in args
    defaults = flags(helm.template())
    assert not [a for a in defaults if a.startswith(("--aggregate-writers", "--normal-events"))]


@pytest.mark.parametrize("mode", [{}, NAMESPACED], ids=["cluster-wide", "namespaced"])
def test_lint_passes_in_both_rbac_modes_with_every_option(helm: Helm, mode: dict[str, Any]) -> None:
    for values in ({}, EVERYTHING):
        done = helm.run(
            "lint", "--strict", str(helm.chart), "-f", str(helm.values_file(values | mode))
        )
        assert "0 chart(s) failed" in done.stdout, done.stdout


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"replicas": -1}, "/replicas"),
        ({"watchNamespaces": "a"}, "/watchNamespaces"),
        ({"watchNamespaces": ["Team_A"]}, "/watchNamespaces/0"),
        ({"controller": {"workers": 0}}, "/controller/workers"),
        ({"controller": {"logLevel": "verbose"}}, "/controller/logLevel"),
        ({"controller": {"tokenAudiences": []}}, "/controller/tokenAudiences"),
        ({"controller": {"storeServers": ["a.example, b.example"]}}, "/controller/storeServers/0"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
        ({"networkPolicy": {"enabled": True}}, "/networkPolicy/apiServer/cidrs"),
        ({"prometheusRule": {"notReadyFor": "ten minutes"}}, "/prometheusRule/notReadyFor"),
        ({"replica": 2}, "replica"),  # a typo is not silently ignored
    ],
)
def test_bad_values_are_refused_naming_the_value(
    helm: Helm, values: dict[str, Any], path: str
) -> None:
    file = str(helm.values_file(values))
    for command in (("template", "r", str(helm.chart)), ("lint", str(helm.chart))):
        message = helm.refused(*command, "-f", file)
        assert "don't meet the specifications of the schema" in message, message
        assert path in message, message
        assert "goroutine" not in message


def test_the_pod_runs_hardened_and_probed_on_the_metrics_port(helm: Helm) -> None:
    pod = one(helm.template(), "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (container,) = pod["containers"]
    hardening = container["securityContext"]
    assert hardening["allowPrivilegeEscalation"] is False
    assert hardening["readOnlyRootFilesystem"] is True
    assert hardening["capabilities"] == {"drop": ["ALL"]}
    assert hardening["runAsNonRoot"] is True
    assert hardening["seccompProfile"] == {"type": "RuntimeDefault"}
    (tmp,) = container["volumeMounts"]
    assert tmp["mountPath"] == "/tmp"
    assert pod["volumes"] == [{"name": tmp["name"], "emptyDir": {"sizeLimit": "16Mi"}}]
    assert container["image"] == f"localhost/secretloom-controller:{secretloom.__version__}"
    ((port_name, port),) = [(p["name"], p["containerPort"]) for p in container["ports"]]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port_name}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port_name}
    assert f"--metrics-addr=0.0.0.0:{port}" in container["args"]
    assert "--json-logs" in container["args"]


def test_the_security_knobs_become_controller_flags(helm: Helm) -> None:
    args = flags(
        helm.template(
            {
                "controller": {
                    "storeServers": ["vault.example.com:8200", "10.0.0.0/8"],
                    "tokenAudiences": ["vault", "openbao"],
                    "tokenServiceAccountLabel": "secretloom.io/login=true",
                    "forceForeignManagers": True,
                    "providerTimeout": 2.5,
                    "workers": 8,
                    "logLevel": "debug",
                }
            }
        )
    )
    for flag in (
        "--store-servers=vault.example.com:8200,10.0.0.0/8",
        "--token-audiences=vault,openbao",
        "--token-service-account-label=secretloom.io/login=true",
        "--force-foreign-managers",
        "--provider-timeout=2.5",
        "--workers=8",
        "--log-level=debug",
    ):
        assert flag in args, (flag, args)
    defaults = flags(helm.template())
    assert "--force-foreign-managers" not in defaults
    assert "--token-audiences=vault" in defaults
    assert not [
        a
        for a in defaults
        if a.startswith(("--store-servers", "--namespaces", "--provider-timeout"))
    ]


@pytest.mark.parametrize(
    ("values", "elects", "budget"),
    [
        ({"replicas": 1}, False, False),
        ({"replicas": 2}, True, True),
        ({"replicas": 1, "leaderElection": {"force": True}}, True, False),
        ({"replicas": 2, "podDisruptionBudget": {"enabled": False}}, True, False),
    ],
)
def test_leader_election_follows_the_replica_count(
    helm: Helm, values: dict[str, Any], elects: bool, budget: bool
) -> None:
    objects = helm.template(values)
    deployment = one(objects, "Deployment")
    args = container_args(deployment)
    assert ("--leader-elect" in args) is elects
    # Without a Lease, a rolling update would run two writers at once.
    strategy = deployment["spec"]["strategy"]["type"]
    assert strategy == ("RollingUpdate" if elects else "Recreate")
    assert bool(of_kind(objects, "PodDisruptionBudget")) is budget
    leases = of_kind(objects, "Lease")
    assert bool(leases) is elects
    if elects:
        assert f"--lease-namespace={NAMESPACE}" in args
        assert f"--lease-name={leases[0]['metadata']['name']}" in args
        assert leases[0]["metadata"]["namespace"] == NAMESPACE


def test_namespaced_mode_renders_roles_in_the_listed_namespaces_only(helm: Helm) -> None:
    objects = helm.template(NAMESPACED | {"replicas": 2})
    assert not [o for o in objects if o["kind"] in CLUSTER_SCOPED_RBAC]
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in of_kind(objects, "Role")}
    bindings = {
        (b["metadata"]["namespace"], b["roleRef"]["name"]) for b in of_kind(objects, "RoleBinding")
    }
    assert roles == bindings
    assert {ns for ns, _ in roles} == {"team-a", "team-b", NAMESPACE}  # NAMESPACE: the Lease only
    assert "--namespaces=team-a,team-b" in flags(objects)


def test_cluster_wide_mode_binds_one_cluster_role_to_the_chart_service_account(helm: Helm) -> None:
    objects = helm.template()
    (binding,) = of_kind(objects, "ClusterRoleBinding")
    account = one(objects, "ServiceAccount")
    assert binding["roleRef"]["name"] == one(objects, "ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]
    assert (
        one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
        == (account["metadata"]["name"])
    )
    assert not of_kind(objects, "Role")


def test_network_policy_allows_the_api_server_and_the_listed_store_addresses(helm: Helm) -> None:
    policy = one(helm.template(EVERYTHING), "NetworkPolicy")
    egress = policy["spec"]["egress"]
    blocks = {
        rule["to"][0]["ipBlock"]["cidr"]: [p["port"] for p in rule.get("ports", [])]
        for rule in egress
        if rule.get("to")
    }
    # vault.example.com is a host name: a NetworkPolicy cannot name it (extraEgress can).
    assert blocks == {"10.0.0.1/32": [443, 6443], "10.20.0.0/16": []}
    assert {"port": 53, "protocol": "UDP"} in [p for r in egress for p in r.get("ports", [])]
    (ingress,) = policy["spec"]["ingress"]
    assert ingress["ports"] == [{"port": "metrics", "protocol": "TCP"}]


def test_admission_policies_are_the_generated_ones(helm: Helm, repo_root: Path) -> None:
    shipped = [
        doc
        for path in sorted((repo_root / "deploy" / "admission").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
    ]
    kinds = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
    rendered = [o for o in helm.template() if o["kind"] in kinds]
    key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
    assert sorted(rendered, key=key) == sorted(shipped, key=key)
    assert not [o for o in helm.template({"admission": {"enabled": False}}) if o["kind"] in kinds]


def test_optional_pieces_render_nothing_unless_enabled(helm: Helm) -> None:
    kinds = {o["kind"] for o in helm.template()}
    assert not kinds & {"NetworkPolicy", "ServiceMonitor", "PrometheusRule", "ConfigMap"}
    enabled = {o["kind"] for o in helm.template(EVERYTHING)}
    assert {"NetworkPolicy", "ServiceMonitor", "PrometheusRule", "ConfigMap"} <= enabled


def test_monitoring_scrapes_the_metrics_service(helm: Helm) -> None:
    objects = helm.template(EVERYTHING)
    service = one(objects, "Service")
    monitor = one(objects, "ServiceMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in [p["name"] for p in service["spec"]["ports"]]
    alerts = {
        r["alert"] for g in one(objects, "PrometheusRule")["spec"]["groups"] for r in g["rules"]
    }
    assert alerts == {
        "SecretSyncNotReady",
        "SecretSyncConflict",
        "SecretloomProviderErrors",
        "SecretloomNoLeader",
    }
    single = one(helm.template(EVERYTHING | {"replicas": 1}), "PrometheusRule")
    # No leader election, no Lease to lose: the alert would always fire.
    assert "SecretloomNoLeader" not in json.dumps(single)
    dashboard = one(objects, "ConfigMap", "secretloom-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    panels = json.loads(dashboard["data"]["secretloom.json"])["panels"]
    assert all(target["expr"] for panel in panels for target in panel["targets"])


def test_argocd_pieces_carry_the_files_of_deploy(helm: Helm, repo_root: Path) -> None:
    objects = helm.template(EVERYTHING)
    plugin = one(objects, "ConfigMap", "secretloom-cmp-plugin")
    assert (
        plugin["data"]["plugin.yaml"] == (repo_root / "deploy/argocd-cmp/plugin.yaml").read_text()
    )
    health_dir = repo_root / "deploy" / "argocd" / "health"
    scripts = sorted(health_dir.glob("*/*/health.lua"))
    if not scripts:
        assert not [o for o in objects if o["metadata"]["name"].endswith("-argocd-cm")]
        return
    data = one(objects, "ConfigMap", "secretloom-argocd-cm")["data"]
    for script in scripts:
        key = f"{script.parent.parent.name}_{script.parent.name}"
        assert data[f"resource.customizations.health.{key}"] == script.read_text()
        discovery = script.parent / "actions" / "discovery.lua"
        if discovery.is_file():
            actions = yaml.safe_load(data[f"resource.customizations.actions.{key}"])
            assert actions["discovery.lua"] == discovery.read_text()
            assert {d["name"]: d["action.lua"] for d in actions["definitions"]} == {
                a.parent.name: a.read_text()
                for a in sorted((script.parent / "actions").glob("*/action.lua"))
            }


# Maps whose keys are the user's (labels, resources), not values of the chart.
FREE_FORM = {"resources", "podAnnotations", "podLabels", "nodeSelector", "affinity", "labels"}


def value_paths(values: dict[str, Any], prefix: str = "") -> list[str]:
    paths = []
    for key, value in values.items():
        if isinstance(value, dict) and value and key not in FREE_FORM:
            paths += value_paths(value, f"{prefix}{key}.")
        else:
            paths.append(f"{prefix}{key}")
    return paths


def test_every_value_is_in_the_install_guide(chart: Path, repo_root: Path) -> None:
    guide = (repo_root / "docs" / "install.md").read_text()
    values = yaml.safe_load((chart / "values.yaml").read_text())
    missing = [
        path
        for path in value_paths(values)
        if f"`{path}`" not in guide and f"`.{path.rsplit('.', 1)[-1]}`" not in guide
    ]
    assert not missing, f"docs/install.md's values table lacks {missing}"
