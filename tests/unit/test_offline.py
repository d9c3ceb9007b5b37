"""`secretloom test`: the examples pass offline; a wrong expectation fails with a readable diff
that never shows a value; the JUnit report says the same; the server-side apply model holds."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from secretloom.api.secretsync import SecretSyncSpec
from secretloom.cli.testfile import run_file
from secretloom.controllers.secretsync import simulate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [
    ROOT / "examples/argocd-notifications/tests/secretloom-test.yaml",
    ROOT / "examples/argocd-notifications-vault/tests/secretloom-test.yaml",
]
SECRETLOOM = Path(sys.executable).parent / "secretloom"
CANARY = "offline-canary-51d7"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.parent.name)
def test_the_examples_pass(path: Path) -> None:
    checks = run_file(path)
    assert len(checks) >= 10
    assert [c for c in checks if not c.ok] == []


def wrong(tmp_path: Path) -> Path:
    text = (
        EXAMPLES[0]
        .read_text()
        .replace("resources: [..]", f"resources: [{EXAMPLES[0].parent.parent}]")
    )
    text = text.replace(
        "gitlab-token: {value: demo-gitlab-token-1, owner: secretloom/argocd/gitlab-token}",
        f"gitlab-token: {{value: {CANARY}, owner: secretloom/argocd/someone-else}}",
        1,
    )
    text = text.replace(
        'conditions: {Ready: "True", Conflict: "False", SourceMissing',
        'conditions: {Ready: "False", Conflict: "False", SourceMissing',
        1,
    )
    path = tmp_path / "wrong.yaml"
    path.write_text(text)
    return path


def test_a_wrong_expectation_fails_with_a_readable_diff_and_junit(tmp_path: Path) -> None:
    junit = tmp_path / "report.xml"
    done = subprocess.run(
        [str(SECRETLOOM), "test", str(wrong(tmp_path)), "--junit", str(junit)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    out = done.stdout
    assert (
        "FAIL two teams, one Secret: secret argocd/argocd-notifications-secret gitlab-token" in out
    )
    assert (
        "    - owner secretloom/argocd/someone-else\n    + owners secretloom/argocd/gitlab-token"
        in out
    )
    assert "    - value sha256 " in out and "    + value sha256 " in out
    assert "    - Ready=False\n    + Ready=True (Synced: 1 key(s) synced to Secret" in out
    assert out.rstrip().endswith("14 of 17 check(s) passed")
    for text in (out, done.stderr, junit.read_text()):
        assert CANARY not in text
        assert "demo-gitlab-token-1" not in text
    suite = ET.parse(junit).getroot()[0]  # noqa: S314 (our own report)
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failing = [c for c in suite if c.find("failure") is not None]
    assert [c.get("name") for c in failing] == ["two teams, one Secret"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tests: []\n", "no `tests:` list"),
        (
            "tests:\n  - name: x\n    expect: [{secret: nonamespace/}]\n",
            "write it as namespace/name",
        ),
        (
            "tests:\n  - name: x\n    objects:\n      - {apiVersion: secretloom.io/v1alpha1, "
            "kind: SecretSync, metadata: {name: s}, spec: {target: {name: t}}}\n",
            "SecretSync default/s: spec: Value error, spec.data, spec.dataFrom or spec.dynamic",
        ),
        (
            "tests:\n  - name: x\n    objects:\n      - {apiVersion: secretloom.io/v1alpha1, "
            "kind: SecretSync, metadata: {name: s}, spec: {target: {name: t}, data: [{key: a, "
            "from: {secret: s, key: a}}], templates: [{key: dsn, template: '{{ data.a }}'}]}}\n",
            "SecretSync default/s: spec.templates not simulated offline",
        ),
    ],
)
def test_a_malformed_test_file_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    done = subprocess.run(
        [str(SECRETLOOM), "test", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("secretloom: error: ")
    assert message in done.stderr
    assert len(done.stderr.splitlines()) == 1


def body(**data: str) -> dict[str, object]:
    return {"metadata": {"name": "t"}, "data": data}


def test_the_apply_model_shares_equal_values_and_conflicts_on_different_ones() -> None:
    world = simulate.World()
    assert simulate.apply(world, "ns", body(a="MQ=="), "one", force=False)
    assert simulate.apply(world, "ns", body(a="MQ=="), "two", force=False)
    secret = world.secrets["ns", "t"]
    assert secret.managers["a"] == ["one", "two"]
    with pytest.raises(Exception, match="conflict"):
        simulate.apply(world, "ns", body(a="Mg=="), "two", force=False)
    # Dropping a shared key keeps it; dropping the last owner removes it.
    simulate.apply(world, "ns", body(), "two", force=False)
    assert secret.data == {"a": "MQ=="} and secret.managers["a"] == ["one"]
    simulate.apply(world, "ns", body(b="Mw=="), "one", force=False)
    assert secret.data == {"b": "Mw=="}
    # Forcing takes the key whole.
    simulate.apply(world, "ns", body(b="NA=="), "two", force=True)
    assert secret.managers["b"] == ["two"] and secret.data["b"] == "NA=="
    assert not simulate.apply(world, "ns", body(b="NA=="), "two", force=False)


def test_an_owner_secretsync_creates_and_owns_its_target_offline() -> None:
    spec = SecretSyncSpec.model_validate(
        {
            "target": {"name": "t", "creationPolicy": "Owner"},
            "data": [{"key": "k", "from": {"secret": "src", "key": "k"}}],
        }
    )
    world = simulate.World(syncs=[simulate.Sync("ns", "owner", spec)])
    simulate.apply(
        world, "ns", {"metadata": {"name": "src"}, "data": {"k": "MQ=="}}, "x", force=True
    )
    assert simulate.run(world) == 2  # one round writes, the next finds nothing to do
    target = world.secrets["ns", "t"]
    assert [r["name"] for r in target.owner_references] == ["owner"]
    assert target.managers == {"k": ["secretloom/ns/owner"]}
