"""`secretloom test`'s simulation agrees with the real controller on the real control plane.

Each case of the argocd-notifications example's test file is replayed on the
cluster: the same Secrets written by the same field managers in the same
order, the same SecretSyncs applied, the real controller running. The target
Secret's data and per-key owners, and each SecretSync's Ready and Conflict
conditions, must be what the offline simulation computed.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from secretloom.api import secretsync as api
from secretloom.cli import testfile
from secretloom.controllers.secretsync import simulate
from secretloom.runtime.kube import KubeClient
from secretloom.runtime.resources import SECRET_SYNCS, SECRETS
from tests.e2e import kit

TEST_FILE = (
    Path(__file__).resolve().parents[2] / "examples/argocd-notifications/tests/secretloom-test.yaml"
)
CASES = yaml.safe_load(TEST_FILE.read_text())["tests"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
async def test_the_simulation_matches_the_cluster(
    kube: KubeClient, namespace: str, case: dict[str, Any]
) -> None:
    manifests = testfile.manifests(TEST_FILE.parent, case)
    managers = case.get("fieldManagers") or {}
    offline = testfile.load_world(TEST_FILE.parent, case)
    simulate.run(offline)
    # Every input exists before the controller starts, as in the simulation (which applies
    # the Secrets, then reconciles): a controller already running would race the hand edit.
    for doc, writer in manifests:
        meta = doc["metadata"]
        body = {**doc, "metadata": {**meta, "namespace": namespace}}
        if doc["kind"] == "Secret":
            data = {k: base64.b64encode(str(v).encode()).decode()
                    for k, v in (doc.get("stringData") or {}).items()}  # fmt: skip
            body.pop("stringData", None)
            if data:
                body["data"] = data
            manager = writer or managers.get(f"{meta['namespace']}/{meta['name']}", "kubectl")
            await kube.apply(
                SECRETS.path(namespace, meta["name"]), body, field_manager=manager, force=True
            )
        elif doc["kind"] == api.KIND:
            await kube.apply(
                SECRET_SYNCS.path(namespace, meta["name"]), body, field_manager="kubectl",
                force=True,
            )  # fmt: skip
    async with kit.controller(kube, namespace):
        for sync in offline.syncs:
            status = offline.statuses[sync.namespace, sync.name]
            expected = {c.type: c for c in status.conditions}
            ready = expected["Ready"]
            await kit.wait_condition(
                kube, namespace, sync.name, "Ready", ready.status, timeout=20, reason=ready.reason
            )
            live = await kit.get_sync(kube, namespace, sync.name)
            assert kit.condition(live, "Conflict")["status"] == expected["Conflict"].status
        for (_, name), secret in offline.secrets.items():
            if not any(s.spec.target.name == name for s in offline.syncs):
                continue
            found = await kit.get_secret(kube, namespace, name)
            assert found is not None
            assert found.get("data") == secret.data
            owners = {
                k: [m.replace("/argocd/", f"/{namespace}/") for m in ms]
                for k, ms in secret.managers.items()
            }
            live_owners: dict[str, list[str]] = {}
            for manager, keys in kit.owners(found).items():
                for key in keys:
                    live_owners.setdefault(key, []).append(manager)
            assert live_owners == owners
