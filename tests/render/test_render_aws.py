"""`secretloom render` with `ref+awssecrets://` and `ref+awsssm://`, against real moto.

Run as Argo CD's CMP sidecar runs it (`tests/render/test_render_e2e.py`), on a
plain-manifests app whose stores file names two AWS stores with static keys
from the sidecar's environment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from secretloom.testing.moto import REGION, MotoServer
from tests.aws.conftest import moto, moto_session, sm, ssm, unique
from tests.aws.support import KEY_ID_CANARY, SECRET_KEY_CANARY
from tests.render.test_render_e2e import documents
from tests.render.test_render_e2e import run_render as run

pytestmark = pytest.mark.moto

__all__ = ["moto", "moto_session", "sm", "ssm"]

VALUE = "aws-render-canary-5d1e"


def app_with(tmp_path: Path, server: MotoServer, manifest: str) -> tuple[Path, dict[str, str]]:
    app = tmp_path / "app"
    app.mkdir(parents=True)
    keys = {
        "secretRef": {
            "accessKeyIDSecretRef": {"name": "aws-keys", "key": "id"},
            "secretAccessKeySecretRef": {"name": "aws-keys", "key": "secret"},
        }
    }
    block = {"region": REGION, "endpoint": server.address, "auth": keys}
    stores = {
        "stores": {
            "default": {"awsSecretsManager": block},
            "ssm": {"aws-parameterstore": block},  # the registry spelling works too
        },
        "secrets": {"aws-keys": {"id": {"env": "AWS_KEY_ID"}, "secret": {"env": "AWS_SECRET"}}},
    }
    (tmp_path / "stores.yaml").write_text(yaml.safe_dump(stores))
    (app / "cm.yaml").write_text(manifest)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "ARGOCD_APP_NAME": "demo",
        "ARGOCD_APP_NAMESPACE": "demo",
        "SECRETLOOM_STORES": str(tmp_path / "stores.yaml"),
        "AWS_KEY_ID": KEY_ID_CANARY,
        "AWS_SECRET": SECRET_KEY_CANARY,
    }
    return app, env


def test_secrets_manager_and_parameter_store_references_render(
    tmp_path: Path, moto: MotoServer, sm: Any, ssm: Any
) -> None:
    name, param = unique("render/app"), f"/{unique('render')}/db-password"
    sm.create_secret(Name=name, SecretString=json.dumps({"user": "u1", "nested": {"k": VALUE}}))
    sm.put_secret_value(SecretId=name, SecretString=json.dumps({"user": "u2", "nested": {}}))
    ssm.put_parameter(Name=param, Value="p1", Type="SecureString")
    ssm.put_parameter(Name=param, Value="p2", Type="SecureString", Overwrite=True)
    manifest = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n"
        f"  user: ref+awssecrets://{name}#/user\n"
        f"  previous: ref+awssecrets://{name}?version_stage=AWSPREVIOUS#/nested/k\n"
        f"  password: ref+awsssm:/{param}?store=ssm\n"
        f"  first: ref+awsssm:/{param}?store=ssm&version=1\n"
        f"  dsn: 'postgres://u:ref+awsssm:/{param}?store=ssm+@db'\n"
    )
    app, env = app_with(tmp_path, moto, manifest)
    done = run(app, env)
    assert done.returncode == 0, done.stderr
    assert documents(done.stdout)["ConfigMap/c"]["data"] == {
        "user": "u2",
        "previous": VALUE,
        "password": "p2",
        "first": "p1",
        "dsn": "postgres://u:p2@db",
    }


def test_aws_reference_failures_are_one_line_naming_the_reference(
    tmp_path: Path, moto: MotoServer, sm: Any
) -> None:
    name = unique("render/secret")
    sm.create_secret(Name=name, SecretString=json.dumps({"user": VALUE}))
    for reference, expected in (
        (f"ref+awssecrets://{name}#/absent", "key 'absent' not found"),
        ("ref+awssecrets://no-such-secret#/user", "secret 'no-such-secret' (secretRef auth): not"),
        (f"ref+awssecrets://{name}?region=eu-west-1#/user", "region are not allowed"),
        (f"ref+awsssm://{name}", "store 'default' is not an aws-parameterstore store"),
    ):
        app, env = app_with(tmp_path / unique("t"), moto, f"k: {reference}\n")
        done = run(app, env)
        assert done.returncode != 0 and done.stdout == ""
        assert done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr
        for canary in (VALUE, KEY_ID_CANARY, SECRET_KEY_CANARY):
            assert canary not in done.stderr
