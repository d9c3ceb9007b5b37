"""The chart with sealing on: keys readable by the controller alone, the certificate public (#13).

Rendered with the real helm; every binding the chart makes is checked, so a
later rule that hands Secrets of the release namespace to anyone else fails
here.
"""

from __future__ import annotations

from typing import Any

from tests.chart.kit import NAMESPACE, Helm, of_kind, one

SEALING = {"sealing": {"enabled": True, "renewPeriod": "168h"}}


def _grants_secrets(role: dict[str, Any]) -> bool:
    return any(
        "" in r["apiGroups"]
        and "secrets" in r["resources"]
        and {"get", "list", "watch", "*"} & set(r["verbs"])
        for r in role["rules"]
    )


def test_sealing_flags_and_roles(helm: Helm) -> None:
    objects = helm.template(SEALING)
    args = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--sealing-namespace={NAMESPACE}" in args
    assert "--sealing-renew-period=168h" in args
    roles = {r["metadata"]["name"]: r for r in of_kind(objects, "Role")}
    cert = roles["secretloom-sealing-cert"]
    assert cert["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"],
         "resourceNames": ["secretloom-sealing-cert"], "verbs": ["get"]}
    ]  # fmt: skip
    sealing = roles["secretloom-sealing"]
    assert sealing["metadata"]["namespace"] == NAMESPACE
    assert _grants_secrets(sealing)


def test_only_the_controller_may_read_the_key_secrets(helm: Helm) -> None:
    objects = helm.template(SEALING)
    account = one(objects, "ServiceAccount")["metadata"]["name"]
    roles = {
        (r["kind"], r["metadata"]["name"]): r
        for r in of_kind(objects, "Role") + of_kind(objects, "ClusterRole")
    }
    bindings = of_kind(objects, "RoleBinding") + of_kind(objects, "ClusterRoleBinding")
    readers = set()
    for binding in bindings:
        ref = binding["roleRef"]
        if _grants_secrets(roles[(ref["kind"], ref["name"])]):
            readers |= {(s["kind"], s["name"]) for s in binding["subjects"]}
    assert readers == {("ServiceAccount", account)}
    # Off by default: no sealing flags, no sealing roles.
    default = helm.template({})
    assert not [r for r in of_kind(default, "Role") if "sealing" in r["metadata"]["name"]]
    args = one(default, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not [a for a in args if a.startswith("--sealing")]


def test_the_daily_backup_cronjob(helm: Helm) -> None:
    recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
    objects = helm.template(
        SEALING | {"backup": {"enabled": True, "recipients": [recipient],
                              "persistentVolumeClaim": "backups", "retentionDays": 30}}
    )  # fmt: skip
    job = one(objects, "CronJob")
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][:4] == [
        "backup", "--output-dir=/backups", "--retention-days=30",
        f"--sealing-namespace={NAMESPACE}",
    ]  # fmt: skip
    assert f"--recipient={recipient}" in container["args"]
    assert pod["volumes"] == [
        {"name": "backups", "persistentVolumeClaim": {"claimName": "backups"}}
    ]
    assert pod["serviceAccountName"] == one(objects, "ServiceAccount")["metadata"]["name"]
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    assert "backup.recipients" in helm.refused(
        "template", "x", str(helm.chart), "--set", "backup.enabled=true"
    )
    assert not of_kind(helm.template({}), "CronJob")
