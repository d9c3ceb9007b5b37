"""Path traversal, injection and canary tests for `secretloom render`.

Path escapes (Argo CD CVE-2022-24348, helm-secrets #496), shell and argument
injection (argocd-vault-plugin PR #324), reads the app must not make (the
sidecar's own environment, other namespaces, a server of its choosing), and a
canary: a distinctive decrypted value must not reach stderr, a DEBUG log or an
exception on any error path.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path

import pytest

from secretloom.render.errors import RenderError
from secretloom.render.pipeline import Options, render
from secretloom.sops import KeySources
from secretloom.testing.tools import tool
from tests.render.oracle import Keys, Sops

CANARY = "canary-7d1e-decrypted-value"
CHART_YAML = "apiVersion: v2\nname: t\nversion: 0.1.0\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside.yaml"
    secret.write_text(f"stolen: {CANARY}\n")
    return secret


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    (root / "templates").mkdir(parents=True)
    (root / "Chart.yaml").write_text(CHART_YAML)
    (root / "values.yaml").write_text("greeting: hi\n")
    (root / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n"
        "  greeting: {{ .Values.greeting | quote }}\n"
    )
    return root


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    root = tmp_path / "plain"
    root.mkdir()
    return root


def run(app_dir: Path, keys: KeySources | None = None, **env: str) -> str:
    options = Options(
        app_dir=app_dir,
        env={
            "PATH": os.environ["PATH"],
            "ARGOCD_APP_NAME": "t",
            "ARGOCD_APP_NAMESPACE": "ns",
            **env,
        },
        keys=keys or KeySources(),
        helm=str(tool("helm")),
    )
    return asyncio.run(render(options))


def refused(app_dir: Path, match: str, **env: str) -> RenderError:
    with pytest.raises(RenderError, match=match) as err:
        run(app_dir, None, **env)
    assert CANARY not in str(err.value)
    return err.value


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ("../outside.yaml", r"'\.\.' is not allowed"),
        ("secrets://../outside.yaml", r"'\.\.' is not allowed"),
        ("sub/../../outside.yaml", r"'\.\.' is not allowed"),
        ("/etc/passwd", "absolute paths are not allowed"),
        ("secrets:///etc/passwd", "absolute paths are not allowed"),
        ("~/outside.yaml", "absolute paths are not allowed"),
    ],
)
def test_values_files_cannot_escape_the_app(
    chart: Path, outside: Path, values: str, why: str
) -> None:
    refused(chart, why, ARGOCD_ENV_HELM_VALUES=values)


def test_symlinked_values_file_out_of_the_app_is_refused(chart: Path, outside: Path) -> None:
    (chart / "innocent.yaml").symlink_to(outside)
    refused(
        chart, "resolves outside the application directory", ARGOCD_ENV_HELM_VALUES="innocent.yaml"
    )


def test_symlinked_manifest_out_of_the_app_is_refused(plain: Path, outside: Path) -> None:
    (plain / "cm.yaml").symlink_to(outside)
    refused(plain, "resolves outside the application directory")


@pytest.mark.parametrize(
    ("reference", "why"),
    [
        ("ref+file://../outside.yaml#/stolen", r"'\.\.' is not allowed"),
        ("ref+file:///etc/passwd", "absolute paths are not allowed"),
        ("ref+sops://../outside.yaml#/stolen", r"'\.\.' is not allowed"),
        ("ref+env://VAULT_TOKEN", "variable not allowed"),
        ("ref+env://HOME", "variable not allowed"),
        ("ref+k8s://v1/Secret/kube-system/admin/token", "namespace 'kube-system' is not allowed"),
        ("ref+vault://secret/app?address=http://evil.example#/pw", "address are not allowed"),
        ("ref+vault://secret/app?token_env=VAULT_TOKEN#/pw", "token_env are not allowed"),
        ("ref+exec://rm -rf /", "unknown backend 'exec'"),
    ],
)
def test_references_cannot_read_outside_their_grant(
    plain: Path, outside: Path, reference: str, why: str
) -> None:
    (plain / "cm.yaml").write_text(f"apiVersion: v1\nkind: ConfigMap\ndata:\n  x: {reference}\n")
    refused(plain, why, VAULT_TOKEN=CANARY)


def test_release_name_cannot_become_a_helm_flag(chart: Path, tmp_path: Path) -> None:
    hook = tmp_path / "evil.sh"
    refused(
        chart, "not a valid helm release name", ARGOCD_ENV_RELEASE_NAME=f"--post-renderer={hook}"
    )


def test_shell_metacharacters_are_just_file_names(chart: Path, tmp_path: Path) -> None:
    witness = tmp_path / "pwned"
    for values in (f"values.yaml;touch {witness}", f"$(touch {witness})", f"`touch {witness}`"):
        refused(chart, "not found", ARGOCD_ENV_HELM_VALUES=values)
    assert not witness.exists()


def test_quotes_in_values_are_data_not_yaml(chart: Path) -> None:
    (chart / "values.yaml").write_text("greeting: ref+env://ARGOCD_ENV_GREETING\n")
    out = run(chart, ARGOCD_ENV_GREETING='x"\n  injected: true\n# ')
    assert "injected: true\n" not in out.replace("\\n", "\n").split("greeting:")[0]
    assert '"x\\"\\n  injected: true\\n# "' in out


@pytest.fixture
def encrypted_values(chart: Path, keys: Keys, sops: Sops) -> Path:
    plain = chart / "secrets.yaml"
    plain.write_text(f"greeting: {CANARY}\n")
    config = chart / ".sops.yaml"
    config.write_text(f"creation_rules:\n  - age: {keys.age[0].recipient}\n")
    plain.write_bytes(sops.encrypt(plain, config))
    return plain


def test_canary_renders_when_all_is_well(chart: Path, encrypted_values: Path, keys: Keys) -> None:
    out = run(chart, keys.sources(), ARGOCD_ENV_HELM_VALUES="secrets://secrets.yaml")
    assert CANARY in out


@pytest.mark.parametrize("failure", ["helm-fail", "missing-ref", "tampered", "bad-template"])
def test_canary_never_in_errors_or_debug_logs(
    failure: str, chart: Path, encrypted_values: Path, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    template = chart / "templates" / "cm.yaml"
    if failure == "helm-fail":
        template.write_text('{{ fail (printf "bad greeting %s" .Values.greeting) }}\n')
    elif failure == "missing-ref":
        template.write_text(template.read_text() + "  other: ref+env://ARGOCD_ENV_MISSING\n")
    elif failure == "tampered":
        encrypted_values.write_text(
            encrypted_values.read_text().replace('lastmodified: "2', 'lastmodified: "1')
        )
    else:
        template.write_text("{{ .Values.greeting.nope.deeper }}\n")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(RenderError) as err:
        run(chart, keys.sources(), ARGOCD_ENV_HELM_VALUES="secrets://secrets.yaml")
    assert CANARY not in str(err.value) and CANARY not in repr(err.value)
    assert err.value.__cause__ is None
    assert CANARY not in caplog.text


def test_decrypted_values_never_outlive_the_render(
    chart: Path, encrypted_values: Path, keys: Keys, tmp_path: Path
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    os.environ["TMPDIR"] = str(scratch)
    try:
        import tempfile

        tempfile.tempdir = None
        run(chart, keys.sources(), ARGOCD_ENV_HELM_VALUES="secrets://secrets.yaml")
        (chart / "templates" / "cm.yaml").write_text('{{ fail "boom" }}\n')
        with pytest.raises(RenderError):
            run(chart, keys.sources(), ARGOCD_ENV_HELM_VALUES="secrets://secrets.yaml")
    finally:
        del os.environ["TMPDIR"]
        tempfile.tempdir = None
    assert list(scratch.iterdir()) == []
    leftovers = [p for p in chart.rglob("*") if p.is_file() and CANARY.encode() in p.read_bytes()]
    assert leftovers == []
    shutil.rmtree(scratch)
