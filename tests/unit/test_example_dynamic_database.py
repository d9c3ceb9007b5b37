"""examples/dynamic-database (issue 14): its SecretSync parses, and a lease renders its DSN."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from secretloom.api import secretsync as api
from secretloom.controllers.secretsync import leases, templates
from secretloom.providers.protocol import Lease

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dynamic-database"


def test_the_example_turns_a_lease_into_keys_and_a_dsn() -> None:
    (sync,) = yaml.safe_load_all((EXAMPLE / "20-secretsync.yaml").read_text())
    spec = api.SecretSyncSpec.model_validate(sync["spec"])
    (entry,) = spec.dynamic
    assert entry.describe() == "secretstore/vault:database/creds/shop-app#lease"
    lease = Lease(
        "database/creds/shop-app/x", {"username": b"v-shop", "password": b"a/b"}, 3600.0, True
    )
    held = leases._held(entry, lease, now=0.0)
    assert held.renew_at == 1800.0
    resolved = leases._results(entry.describe(), leases.Entry(entry, held=held))
    dsn = templates.render_all(spec, resolved)[-1]
    assert dsn.value is not None
    assert base64.b64decode(dsn.value).decode() == ("postgres://v-shop:a%2Fb@db.shop.svc:5432/shop")
    (store,) = yaml.safe_load_all((EXAMPLE / "10-store.yaml").read_text())
    assert store["metadata"]["name"] == entry.store.name
