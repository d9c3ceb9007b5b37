"""`secretloom check notifications`: Argo CD's own `$key` expansion, and what will not resolve.

The ConfigMap is in the format of Argo CD's notification catalog; the
SecretSyncs are the examples'. The argocd-notifications example provides the
GitLab and Grafana tokens, not Slack's: `$slack-token` is the missing
reference. The Vault example also provides Slack's: nothing is missing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from secretloom.checks.notifications import check, references

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
CM = HERE / "argocd-notifications-cm.yaml"
SECRETLOOM = Path(sys.executable).parent / "secretloom"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SECRETLOOM), "check", "notifications", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token: $slack-token", ["slack-token"]),
        ("url: https://x/$a/$b_c.d?$e-", ["a", "b_c", "e-"]),  # [$][\w-]+, greedy
        ("k: \"$quoted\"\nl: '$single'", ["quoted", "single"]),
        ("$key-in-a-key: 1", ["key-in-a-key"]),  # mapping keys are walked too
        ("- a: [$x, {b: $y}]", ["x", "y"]),
        ("n: 8080\nb: true\nz: null", []),  # only !!str scalars
        ("x: $é", []),  # Go's \w is ASCII
        ("text: |\n  line $one\n  $two", ["one", "two"]),
        ("", []),
    ],
)
def test_references_follow_the_engines_walk(text: str, expected: list[str]) -> None:
    assert list(references(text)) == expected


def test_only_services_are_expanded_and_bad_service_keys_are_errors() -> None:
    report = check(
        {
            "template.t": "message: {{range $index, $c := .x}}{{end}}",
            "service.slack": "token: $tok",
            "service.a.b.c": "x: $y",
            "service.broken": "a: [",
        },
        {"tok": "helm", "spare": "kubectl"},
        [],
        secret_name="argocd/s",
        live=True,
    )
    assert [(r.key, r.resolved_by) for r in report.references] == [
        ("tok", "Secret argocd/s (owner helm)")
    ]
    assert report.unused == ["spare (owner kubectl)"]
    assert report.errors == [
        "service.a.b.c: invalid service key; expected 'service.<type>(.<name>)'",
        "service.broken: not valid YAML (line 1); Argo CD refuses the service",
    ]


def test_a_missing_key_is_caught_in_the_catalog_format_from_files() -> None:
    done = run(str(CM), str(ROOT / "examples/argocd-notifications/20-secretsyncs.yaml"))
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines == [
        "ok: $grafana-api-key (service.grafana) <- SecretSync argocd/grafana-token",
        "missing: $slack-token (service.slack): no key 'slack-token' in Secret "
        "argocd/argocd-notifications-secret and no SecretSync declares it",
        "ok: $gitlab-token (service.webhook.gitlab) <- SecretSync argocd/gitlab-token",
        "3 reference(s), 1 missing, 0 unused key(s), 0 service error(s)",
    ]


def test_every_reference_resolves_with_the_vault_examples_secretsyncs() -> None:
    done = run(str(CM), str(ROOT / "examples/argocd-notifications-vault"))
    assert done.returncode == 0, done.stdout
    assert done.stdout.splitlines()[-1] == (
        "3 reference(s), 0 missing, 0 unused key(s), 0 service error(s)"
    )


def test_a_key_only_a_datafrom_might_provide_is_not_assumed(tmp_path: Path) -> None:
    sync = tmp_path / "sync.yaml"
    sync.write_text(
        "apiVersion: secretloom.io/v1alpha1\nkind: SecretSync\n"
        "metadata: {name: chat, namespace: argocd}\n"
        "spec:\n  target: {name: argocd-notifications-secret}\n"
        "  dataFrom: [{store: {name: vault}, path: chat, prefix: slack-}]\n"
    )
    done = run(str(CM), str(ROOT / "examples/argocd-notifications/20-secretsyncs.yaml"), str(sync))
    assert done.returncode == 1
    assert (
        "missing: $slack-token (service.slack): not declared; may come from SecretSync "
        "argocd/chat (dataFrom secretstore/vault:chat#*, prefix 'slack-')"
    ) in done.stdout


def test_no_configmap_is_one_line(tmp_path: Path) -> None:
    done = run(str(ROOT / "examples/argocd-notifications"))
    assert done.returncode == 1
    assert done.stderr == (
        "secretloom: error: ConfigMap argocd/argocd-notifications-cm not found in the inputs\n"
    )
