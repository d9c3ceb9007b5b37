"""examples/templated-dsn (issue 14): its SecretSync parses and its template renders the DSN."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from secretloom.api import secretsync as api
from secretloom.controllers.secretsync import plan as p
from secretloom.controllers.secretsync import rollout, templates

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "templated-dsn"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_the_example_renders_its_dsn_and_names_its_restarts() -> None:
    (sync,) = yaml.safe_load_all((EXAMPLE / "20-secretsync.yaml").read_text())
    spec = api.SecretSyncSpec.model_validate(sync["spec"])
    resolved = [
        p.Resolved("user", "secret/db-user#name", value=b64("shop_app"), version="1"),
        p.Resolved("password", "vault", value=b64("p@ss:w/rd"), version="2"),
    ]
    dsn = templates.render_all(spec, resolved)[-1]
    assert dsn.value is not None
    assert base64.b64decode(dsn.value).decode() == (
        "postgres://shop_app:p%40ss%3Aw%2Frd@db.shop.svc:5432/shop?sslmode=require"
    )
    assert spec.rollout is not None and spec.rollout.debounce_seconds() == 15
    workloads = list(yaml.safe_load_all((EXAMPLE / "30-deployments.yaml").read_text()))
    listed = {(t.kind, t.name) for t in spec.rollout.restart}
    restarted = {
        w["metadata"]["name"]
        for w in workloads
        if (w["kind"], w["metadata"]["name"]) in listed or rollout.opted_in(w, spec.target.name)
    }
    assert restarted == {"api", "worker"}
