"""`secretloom.migrate`: the seed's policy, ExternalSecrets and VaultStaticSecrets convert;
everything else is reported one line each, without a value; the CLI's exit code says which."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from secretloom.migrate import Conversion, convert

FIXTURES = Path(__file__).parent / "fixtures"
SECRETLOOM = Path(sys.executable).parent / "secretloom"
CANARY = "LITERAL-CANARY-9c1e"


def load(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((FIXTURES / name).read_text()) if d]


def by_name(result: Conversion) -> dict[str, dict[str, Any]]:
    return {f"{m['kind']}/{m['metadata']['name']}": m for m in result.manifests}


def test_the_seed_policy_becomes_one_secretsync_per_source() -> None:
    result = convert(load("seed-000-policy.yaml"))
    assert result.unconverted == []
    syncs = by_name(result)
    assert set(syncs) == {
        "SecretSync/argocd-notifications-secret-gitlab-merge",
        "SecretSync/argocd-notifications-secret-grafana-merge",
    }
    gitlab = syncs["SecretSync/argocd-notifications-secret-gitlab-merge"]
    assert gitlab["metadata"]["namespace"] == "argocd"
    assert gitlab["spec"]["target"] == {
        "name": "argocd-notifications-secret",
        "creationPolicy": "Merge",
        "createIfMissing": False,
        "deletionPolicy": "Retain",
    }
    assert gitlab["spec"]["data"] == [
        {
            "key": "gitlab-token",
            "from": {"secret": "argocd-notifications-secret-gitlab-merge", "key": "gitlab-token"},
        }
    ]


def test_several_keys_per_rule_and_rules_sharing_a_source_fold_into_one_secretsync() -> None:
    policy = load("seed-000-policy.yaml")[0]
    first, second = policy["spec"]["rules"]
    first["mutate"]["patchStrategicMerge"]["data"]["gitlab-url"] = "{{ request.object.data.url }}"
    second["match"] = first["match"]  # the same source as the first rule
    result = convert([policy])
    assert result.unconverted == []
    (sync,) = result.manifests
    assert [(e["key"], e["from"]["key"]) for e in sync["spec"]["data"]] == [
        ("gitlab-token", "gitlab-token"),
        ("gitlab-url", "url"),
        ("grafana-api-key", "grafana-api-key"),
    ]


def test_one_key_from_two_sources_is_reported_not_given_two_owners() -> None:
    policy = load("seed-000-policy.yaml")[0]
    _, second = policy["spec"]["rules"]
    second["mutate"]["patchStrategicMerge"]["data"] = {
        "gitlab-token": '{{ request.object.data."gitlab-token" }}'
    }
    result = convert([policy])
    assert [f.field for f in result.unconverted] == [
        "spec.rules[1].mutate.patchStrategicMerge.data.gitlab-token"
    ]
    assert len(result.manifests) == 1


def test_external_secrets_convert_with_their_lifecycle() -> None:
    result = convert(load("eso.yaml"))
    assert result.unconverted == []
    found = by_name(result)
    assert set(found) == {
        "SecretStore/vault",
        "SecretSync/db-credentials",
        "SecretSync/grafana-token",
        "SecretSync/app-config",
        "SecretSync/gitlab-token",
    }
    db = found["SecretSync/db-credentials"]["spec"]
    assert db["target"]["creationPolicy"] == "Owner"
    assert db["refreshInterval"] == "15m"
    # ESO accepts the key with or without the mount; secretloom paths are mount-relative.
    assert [e["from"]["path"] for e in db["data"]] == ["apps/db", "apps/db"]
    assert db["data"][1]["from"]["version"] == 1
    grafana = found["SecretSync/grafana-token"]["spec"]
    assert grafana["data"][0]["key"] == "grafana-api-key"  # renamed by the template
    assert grafana["target"]["createIfMissing"] is False
    assert found["SecretSync/app-config"]["spec"]["dataFrom"][0]["path"] == "apps/config"
    assert found["SecretSync/gitlab-token"]["spec"]["data"][0]["from"] == {
        "secret": "gitlab-source",
        "key": "token",
    }


def test_a_cluster_secret_store_pins_its_credentials_namespace() -> None:
    store: dict[str, Any] = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": {"name": "shared"},
        "spec": {
            "conditions": [{"namespaces": ["team-a", "team-b"]}],
            "provider": {
                "vault": {
                    "server": "https://vault.example:8200",
                    "path": "secret",
                    "auth": {
                        "appRole": {
                            "roleId": "r-1",
                            "secretRef": {"name": "approle", "key": "id", "namespace": "vault"},
                        }
                    },
                }
            },
        },
    }
    result = convert([store])
    assert result.unconverted == []
    (out,) = result.manifests
    assert out["spec"]["credentialsNamespace"] == "vault"
    assert out["spec"]["namespaces"] == ["team-a", "team-b"]
    store["spec"]["provider"]["vault"]["auth"]["appRole"]["secretRef"].pop("namespace")
    assert [f.field for f in convert([store]).unconverted] == ["spec.provider.vault.auth"]


def test_a_kubernetes_store_of_another_namespace_is_reported() -> None:
    docs = load("eso.yaml")
    docs[1]["spec"]["provider"]["kubernetes"]["remoteNamespace"] = "elsewhere"
    result = convert(docs)
    assert [f.line() for f in result.unconverted] == [
        "ExternalSecret apps/gitlab-token spec.data[0]: reads a Secret of namespace "
        "'elsewhere'; a SecretSync reads Secrets of its own namespace only",
        "ExternalSecret apps/gitlab-token spec: nothing left to sync",
    ]


def test_vault_static_secrets_convert_with_one_shared_store() -> None:
    result = convert(load("vso.yaml"))
    assert result.unconverted == []
    found = by_name(result)
    assert set(found) == {
        "SecretStore/apps-auth-kv2-v2",
        "SecretSync/gitlab",
        "SecretSync/grafana",
    }
    vault = found["SecretStore/apps-auth-kv2-v2"]["spec"]["provider"]["vault"]
    assert vault["auth"]["kubernetes"]["serviceAccountRef"] == {
        "name": "vault-auth",
        "audiences": ["vault"],
    }
    gitlab = found["SecretSync/gitlab"]["spec"]
    assert gitlab["target"]["creationPolicy"] == "Owner"
    assert gitlab["refreshInterval"] == "30s"
    assert found["SecretSync/grafana"]["spec"]["target"]["createIfMissing"] is False


def test_every_unconvertible_field_is_one_finding_without_a_value() -> None:
    result = convert(load("unconvertible.yaml"))
    fields = {(f.source, f.field) for f in result.unconverted}
    for expected in [
        ("ClusterPolicy copy-everywhere", "spec.rules[0].preconditions"),
        ("ClusterPolicy copy-everywhere", "spec.rules[0].mutate.patchStrategicMerge.metadata"),
        ("ClusterPolicy copy-everywhere", "spec.rules[0].mutate.patchStrategicMerge.data.token"),
        ("ClusterPolicy copy-everywhere", "spec.rules[0].match.any[0].resources.names"),
        ("ClusterPolicy copy-everywhere", "spec.rules[1]"),
        ("ExternalSecret apps/computed", "spec.data[0].remoteRef.decodingStrategy"),
        ("ExternalSecret apps/computed", "spec.dataFrom[0].find"),
        ("ExternalSecret apps/computed", "spec.target.deletionPolicy"),
        ("ExternalSecret apps/computed", "spec.target.template.data.dsn"),
        ("ExternalSecret apps/computed", "spec.refreshInterval"),
        ("ClusterSecretStore aws", "spec.provider.aws"),
        ("VaultStaticSecret apps/legacy", "spec.rolloutRestartTargets"),
        ("VaultStaticSecret apps/legacy", "spec.vaultAuthRef"),
        ("VaultStaticSecret apps/legacy", "spec.destination.transformation.excludeRaw"),
        ("SealedSecret apps/sealed", ""),
    ]:
        assert expected in fields
    assert result.manifests == []
    assert all(CANARY not in f.line() for f in result.unconverted + result.notes)
    assert [f.line() for f in result.notes if f.source.startswith("ConfigMap")] == [
        "ConfigMap apps/unrelated: skipped: not a resource of a tool secretloom converts from"
    ]


def test_the_output_is_checked_against_the_models() -> None:
    policy = load("seed-000-policy.yaml")[0]
    data = policy["spec"]["rules"][0]["mutate"]["patchStrategicMerge"]["data"]
    data["bad key!"] = '{{ request.object.data."gitlab-token" }}'
    result = convert([policy])
    (finding,) = result.unconverted
    assert "the converted SecretSync would be refused: spec.data.1.key" in finding.reason


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SECRETLOOM), "convert", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_reads_a_directory_and_exits_zero_when_everything_converted(tmp_path: Path) -> None:
    for name in ("seed-000-policy.yaml", "eso.yaml", "vso.yaml"):
        (tmp_path / name).write_text((FIXTURES / name).read_text())
    done = run(str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert len([d for d in yaml.safe_load_all(done.stdout) if d]) == 10
    assert done.stderr.endswith("10 manifest(s) from 8 object(s); 0 item(s) not converted\n")


def test_cli_reads_stdin_and_exits_two_when_something_did_not_convert() -> None:
    done = run("-", stdin=(FIXTURES / "unconvertible.yaml").read_text())
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert sum(line.startswith("not converted: ") for line in lines) == 19
    assert "not converted: SealedSecret apps/sealed: not yet converted: " in done.stderr
    assert CANARY not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [\n", "secretloom: error: <stdin>: line 2 is not valid YAML\n"),
        (
            f"token: {CANARY}\n  bad: indent\n",
            "secretloom: error: <stdin>: line 2 is not valid YAML\n",
        ),
    ],
)
def test_cli_bad_yaml_is_one_line_without_the_text(text: str, message: str) -> None:
    done = run(stdin=text)
    assert done.returncode == 1
    assert done.stderr == message


def test_cli_missing_file_is_one_line(tmp_path: Path) -> None:
    done = run(str(tmp_path / "nope.yaml"))
    assert done.returncode == 1
    assert (
        done.stderr == f"secretloom: error: {tmp_path / 'nope.yaml'}: No such file or directory\n"
    )


def test_cli_unpacks_a_kubectl_list_and_ignores_defaulted_fields() -> None:
    docs = load("seed-000-policy.yaml") + load("eso.yaml") + load("vso.yaml")
    for doc in docs:  # what `kubectl get -o yaml` adds
        doc["metadata"].update(resourceVersion="42", uid="u-1", managedFields=[{"manager": "x"}])
        doc["status"] = {"conditions": []}
    docs[0]["spec"].update(admission=True, emitWarning=False, validationFailureAction="Audit")
    docs[0]["spec"]["rules"][0].update(exclude={}, skipBackgroundRequests=True)
    for doc in docs:
        if doc["kind"] == "VaultStaticSecret":
            doc["spec"].update(rolloutRestartTargets=[], syncConfig={})
            doc["spec"]["destination"].update(overwrite=False, labels={}, annotations={})
        if doc["kind"] == "VaultConnection":
            doc["spec"].update(skipTLSVerify=False, tlsServerName="", headers={})
    listing = {"apiVersion": "v1", "kind": "List", "items": docs}
    done = run("-", stdin=yaml.safe_dump(listing))
    assert done.returncode == 0, done.stderr
    assert len([d for d in yaml.safe_load_all(done.stdout) if d]) == 10
    docs[-1]["spec"]["destination"]["labels"] = {"team": "a"}  # set: reported
    done = run("-", stdin=yaml.safe_dump(listing))
    assert done.returncode == 2
    assert "not converted: VaultStaticSecret apps/grafana spec.destination.labels: " in done.stderr
