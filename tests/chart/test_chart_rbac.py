"""The chart grants exactly the verbs of deploy/rbac/, and no more, in each mode.

deploy/rbac/clusterrole.yaml and role.yaml are what people apply by hand; the
chart writes its rules in templates/_rbac.tpl. Comparing (group, resource,
verb) triples catches a verb added to one and forgotten in the other. The
chart narrows two things, each asserted here: Leases only in the release
namespace (for the one Lease the chart creates), and `get serviceaccounts`
only when the label knob that needs it is set.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from tests.chart.kit import NAMESPACE, Helm, of_kind, one

Triple = tuple[str, str, str]
LEASES = ("coordination.k8s.io", "leases")
SERVICE_ACCOUNTS = ("", "serviceaccounts")
WITH_EVERY_RULE = {
    "replicas": 2,
    "shards": 2,
    "controller": {"tokenServiceAccountLabel": "login=yes"},
}


def triples(rules: Iterable[dict[str, Any]]) -> set[Triple]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def shipped(repo_root: Path, name: str) -> set[Triple]:
    role = next(yaml.safe_load_all((repo_root / "deploy" / "rbac" / name).read_text()))
    return triples(role["rules"])


def lease_role(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (role,) = [r for r in of_kind(objects, "Role") if r["metadata"]["namespace"] == NAMESPACE]
    return role


def test_cluster_wide_verbs_are_those_of_clusterrole_yaml(helm: Helm, repo_root: Path) -> None:
    objects = helm.template(WITH_EVERY_RULE)
    cluster_role = triples(one(objects, "ClusterRole")["rules"])
    leases = triples(lease_role(objects)["rules"])
    assert cluster_role | leases == shipped(repo_root, "clusterrole.yaml")
    assert {t[:2] for t in leases} == {LEASES}
    assert LEASES not in {t[:2] for t in cluster_role}  # not in every namespace


def test_namespaced_verbs_are_those_of_role_yaml(helm: Helm, repo_root: Path) -> None:
    objects = helm.template(WITH_EVERY_RULE | {"watchNamespaces": ["team-a", "team-b"]})
    assert not of_kind(objects, "ClusterRole")
    assert not of_kind(objects, "ClusterRoleBinding")
    for namespace in ("team-a", "team-b"):
        (role,) = [r for r in of_kind(objects, "Role") if r["metadata"]["namespace"] == namespace]
        assert triples(role["rules"]) | triples(lease_role(objects)["rules"]) == shipped(
            repo_root, "role.yaml"
        )
        assert LEASES not in {t[:2] for t in triples(role["rules"])}


def test_the_lease_rules_name_the_lease_the_chart_creates(helm: Helm) -> None:
    objects = helm.template({"replicas": 2})
    lease = one(objects, "Lease")
    named = [r for r in lease_role(objects)["rules"] if r.get("resourceNames")]
    assert named == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [lease["metadata"]["name"]],
            "verbs": ["get", "update"],
        }
    ]


def test_optional_rules_appear_only_when_their_feature_is_on(helm: Helm) -> None:
    for values in ({}, {"watchNamespaces": ["team-a"]}):
        objects = helm.template(values)
        rules = [
            r
            for role in of_kind(objects, "Role") + of_kind(objects, "ClusterRole")
            for r in role["rules"]
        ]
        granted = {t[:2] for t in triples(rules)}
        assert SERVICE_ACCOUNTS not in granted  # only for tokenServiceAccountLabel
        assert LEASES not in granted  # one replica: no leader election, no Lease


def test_sharded_the_chart_creates_every_shard_lease(helm: Helm) -> None:
    objects = helm.template({"replicas": 3, "shards": 3})
    names = sorted(lease["metadata"]["name"] for lease in of_kind(objects, "Lease"))
    assert names == [f"secretloom-shard-{i}" for i in range(3)]
    (deployment,) = of_kind(objects, "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--shards=3" in args and "--leader-elect" in args
    leases = triples(lease_role(objects)["rules"])
    assert {t[2] for t in leases} == {"create", "get", "list", "update", "delete"}
    assert {t[:2] for t in leases} == {LEASES}  # still only in the release namespace
