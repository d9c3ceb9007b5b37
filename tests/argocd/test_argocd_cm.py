"""The generated Argo CD files stay derived from their one source.

deploy/argocd/argocd-cm-health.yaml is what platform teams apply; the Lua
under deploy/argocd/health/ is what is reviewed and tested. An edit to a
script without `make argocd-cm` would ship the old script, so the snippet
must equal a fresh rendering. Every kind the CRDs define needs a health
check (a new kind would otherwise show as healthy-by-default in Argo CD), and
the two plugin configs must run the same command (only their selection
differs).
"""

from __future__ import annotations

import yaml

from tests.argocd.argocd_cm import LUA_ROOT, REPO, SNIPPET, data, render


def test_the_snippet_is_generated_from_the_lua_files() -> None:
    assert SNIPPET.read_text() == render(), "stale: run `make argocd-cm`"


def test_every_kind_the_crds_define_has_a_health_check() -> None:
    kinds = {
        (crd["spec"]["group"], crd["spec"]["names"]["kind"])
        for crd in (yaml.safe_load(p.read_text()) for p in (REPO / "deploy" / "crds").glob("*"))
    }
    assert kinds == {
        ("secretloom.io", k)
        for k in ("SecretSync", "SecretStore", "ClusterSecretStore", "SealedSecret")
    }
    for group, kind in kinds:
        assert (LUA_ROOT / group / kind / "health.lua").is_file()
        assert f"resource.customizations.health.{group}_{kind}" in data()


def test_both_plugin_configs_run_the_same_command() -> None:
    cmp = REPO / "deploy" / "argocd-cmp"
    discover, explicit = (
        yaml.safe_load((cmp / name).read_text()) for name in ("plugin.yaml", "plugin-explicit.yaml")
    )
    assert discover["spec"]["generate"] == explicit["spec"]["generate"]
    assert "discover" in discover["spec"] and "discover" not in explicit["spec"]
