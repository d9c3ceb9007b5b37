"""Sealed values on the real control plane, sealed by the real kubeseal (issue #13).

The controller runs in-process with a key namespace of its own per test; the
published certificate is read back from its ConfigMap and handed to
Bitnami's kubeseal, as a user would (`kubeseal --cert`). Judged by what the
API server holds: target values, managedFields, conditions, Events, and the
key Secrets themselves.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from secretloom.api import sealing
from secretloom.runtime import metrics
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.logs import JsonFormatter
from secretloom.runtime.resources import CONFIGMAPS, EVENTS, NAMESPACES, SECRET_SYNCS, SECRETS
from tests.e2e import kit
from tests.sealed.conftest import Kubeseal, kubeseal_bin

__all__ = ["kubeseal_bin"]  # the fixture, for these tests

TARGET = "argocd-notifications-secret"
CANARY = "canary-5eal-d0-not-leak"


@pytest.fixture
async def keys_ns(kube: KubeClient) -> AsyncIterator[str]:
    name = f"keys-{uuid.uuid4().hex[:10]}"
    await kube.create(NAMESPACES.path(), {"metadata": {"name": name}})
    yield name
    await kube.delete(NAMESPACES.path(name=name))


async def published_cert(kube: KubeClient, keys_ns: str, tmp_path: Path, old: str = "") -> Path:
    """The certificate the controller publishes, once it is there (and differs from `old`)."""
    found: dict[str, str] = {}

    async def probe() -> bool:
        try:
            cm = await kube.get(CONFIGMAPS.path(keys_ns, sealing.CERT_CONFIGMAP))
        except ApiError:
            return False
        found.update(cm.get("data") or {})
        return bool(found.get(sealing.CERT_KEY)) and found[sealing.CERT_KEY] != old

    await kit.eventually(probe, timeout=60, interval=0.2)
    path = tmp_path / f"cert-{uuid.uuid4().hex[:6]}.pem"
    path.write_text(found[sealing.CERT_KEY])
    return path


def kubeseal_raw(
    kubeseal: Kubeseal, cert: Path, scope: str, namespace: str, name: str, value: str
) -> str:
    out = kubeseal.run(
        "--raw", "--cert", str(cert), "--scope", scope, "--namespace", namespace,
        "--name", name, "--from-file=/dev/stdin", stdin=value.encode(),
    )  # fmt: skip
    return out.decode().strip()


def sealed_entry(key: str, ciphertext: str, scope: str = "strict") -> Obj:
    return {"key": key, "from": {"sealed": {"value": ciphertext, "scope": scope}}}


async def key_secrets(kube: KubeClient, keys_ns: str) -> list[Obj]:
    items, _ = await kube.list(SECRETS.path(keys_ns), params={"labelSelector": sealing.KEY_LABEL})
    return items


async def test_kubeseal_corpus_in_every_scope_composes_next_to_a_secretsync(
    kube: KubeClient, namespace: str, keys_ns: str, kubeseal_bin: Kubeseal, tmp_path: Path
) -> None:
    async with kit.controller(kube, namespace, sealing_namespace=keys_ns):
        cert = await published_cert(kube, keys_ns, tmp_path)
        await kit.put_secret(kube, namespace, TARGET, {}, manager="helm")
        await kit.put_secret(kube, namespace, "gitlab-src", {"t": "gl-1"}, manager="vso")
        await kit.apply_sync(
            kube, namespace, "gitlab", kit.sync_spec(TARGET, {"gitlab-token": ("gitlab-src", "t")})
        )
        corpus = {
            "slack-token": ("strict", "xoxb-strict"),
            "pagerduty-key": ("namespace-wide", "pd-namespace"),
            "shared-webhook": ("cluster-wide", "hook-cluster"),
        }
        spec = {
            "target": {"name": TARGET},
            "data": [
                sealed_entry(
                    key, kubeseal_raw(kubeseal_bin, cert, scope, namespace, TARGET, value), scope
                )
                for key, (scope, value) in corpus.items()
            ],
        }
        await kit.apply_sync(kube, namespace, "sealed", spec)
        for name in ("gitlab", "sealed"):
            await kit.wait_condition(kube, namespace, name, "Ready", timeout=30)
        target = await kit.get_secret(kube, namespace, TARGET)
        assert target is not None
        assert kit.values(target) == {
            "gitlab-token": "gl-1",
            **{key: value for key, (_, value) in corpus.items()},
        }
        owners = kit.owners(target)
        assert owners[f"secretloom/{namespace}/gitlab"] == {"gitlab-token"}
        assert owners[f"secretloom/{namespace}/sealed"] == set(corpus)
        status = (await kit.get_sync(kube, namespace, "sealed"))["status"]
        assert status["sources"] == "3 sealed"
        assert {k["source"] for k in status["keys"]} == {
            "sealed/strict", "sealed/namespace-wide", "sealed/cluster-wide"
        }  # fmt: skip


async def test_moved_widened_and_tampered_values_are_refused_alike(
    kube: KubeClient,
    namespace: str,
    keys_ns: str,
    kubeseal_bin: Kubeseal,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with kit.controller(kube, namespace, sealing_namespace=keys_ns):
        cert = await published_cert(kube, keys_ns, tmp_path)
        strict = kubeseal_raw(kubeseal_bin, cert, "strict", namespace, "a", CANARY)
        raw = bytearray(base64.b64decode(strict))
        raw[-3] ^= 0x01
        tampered = base64.b64encode(bytes(raw)).decode()
        other_ns = kubeseal_raw(kubeseal_bin, cert, "namespace-wide", "elsewhere", "a", CANARY)
        cases = {
            "moved": (sealed_entry("k", strict), "b"),  # another target name
            "widened": (sealed_entry("k", strict, "cluster-wide"), "a"),
            "ns-widened": (sealed_entry("k", strict, "namespace-wide"), "a"),
            "tampered": (sealed_entry("k", tampered), "a"),
            "other-namespace": (sealed_entry("k", other_ns, "namespace-wide"), "a"),
        }
        for name, (entry, target) in cases.items():
            await kit.apply_sync(
                kube, namespace, name, {"target": {"name": target}, "data": [entry]}
            )
        messages = set()
        for name, (_, target) in cases.items():
            sync = await kit.wait_condition(
                kube, namespace, name, "Ready", "False", timeout=30, reason="UnsealFailed"
            )
            scope = sync["spec"]["data"][0]["from"]["sealed"]["scope"]
            message = kit.condition(sync, "Ready")["message"]
            messages.add(message.replace(scope, "S").replace(f"/{target} ", "/T "))
        assert len(messages) == 1, messages  # no oracle: every cause reads the same
        for target in ("a", "b"):
            assert "k" not in kit.values(await kit.get_secret(kube, namespace, target))
        syncs, _ = await kube.list(SECRET_SYNCS.path(namespace))
        events, _ = await kube.list(EVENTS.path(namespace))
        keys = await key_secrets(kube, keys_ns)
    private = base64.b64decode(keys[0]["data"]["tls.key"]).decode()
    formatter = JsonFormatter()
    emitted = {
        "logs": "\n".join(formatter.format(r) for r in caplog.records),
        "events": json.dumps(events),
        "status": json.dumps([s.get("status") for s in syncs]),
        "metrics": generate_latest(metrics.REGISTRY).decode(),
    }
    assert any("sealing key created" in r.getMessage() for r in caplog.records)
    body = private.splitlines()[5]  # a line of the key's base64 body
    for where, text in emitted.items():
        assert CANARY not in text, f"value leaked into {where}"
        assert "PRIVATE KEY" not in text and body not in text, f"key leaked into {where}"


async def test_renewal_keeps_old_values_opening_and_compromise_forces_a_new_key(
    kube: KubeClient, namespace: str, keys_ns: str, kubeseal_bin: Kubeseal, tmp_path: Path
) -> None:
    async with kit.controller(kube, namespace, sealing_namespace=keys_ns, sealing_renew_period=8.0):
        first = await published_cert(kube, keys_ns, tmp_path)
        old_value = kubeseal_raw(kubeseal_bin, first, "strict", namespace, "t", "sealed-first")
        renewed = await published_cert(kube, keys_ns, tmp_path, old=first.read_text())
        assert len(await key_secrets(kube, keys_ns)) >= 2  # old keys are kept
        new_value = kubeseal_raw(kubeseal_bin, renewed, "strict", namespace, "t", "sealed-new")
        spec = {
            "target": {"name": "t"},
            "data": [sealed_entry("old", old_value), sealed_entry("new", new_value)],
        }
        await kit.apply_sync(kube, namespace, "both", spec)
        await kit.wait_condition(kube, namespace, "both", "Ready", timeout=30)
        assert kit.values(await kit.get_secret(kube, namespace, "t")) == {
            "old": "sealed-first",
            "new": "sealed-new",
        }
    async with kit.controller(kube, namespace, sealing_namespace=keys_ns, sealing_renew_period=0.0):
        current = await published_cert(kube, keys_ns, tmp_path)
        before = {s["metadata"]["name"] for s in await key_secrets(kube, keys_ns)}
        newest = max(
            await key_secrets(kube, keys_ns),
            key=lambda s: s["metadata"]["annotations"]["secretloom.io/sealing-key-created"],
        )
        await kube.merge_patch(
            SECRETS.path(keys_ns, newest["metadata"]["name"]),
            {"metadata": {"labels": {sealing.KEY_LABEL: sealing.COMPROMISED}}},
        )
        await published_cert(kube, keys_ns, tmp_path, old=current.read_text())
        after = {s["metadata"]["name"] for s in await key_secrets(kube, keys_ns)}
        assert before < after  # a new key, nothing deleted
        # The key change requeued "both"; values sealed for the compromised key still open.
        await kit.wait_condition(kube, namespace, "both", "Ready", timeout=30)
        assert kit.values(await kit.get_secret(kube, namespace, "t")) == {
            "old": "sealed-first",
            "new": "sealed-new",
        }


async def test_imported_bitnami_keys_open_bitnami_ciphertexts(
    kube: KubeClient, namespace: str, keys_ns: str, kubeseal_bin: Kubeseal, tmp_path: Path
) -> None:
    bitnami = kubeseal_bin.keygen("sealed-secrets-keyq7x2m", keys_ns)
    cert = tmp_path / "bitnami.pem"
    cert.write_bytes(base64.b64decode(bitnami["data"]["tls.crt"]))  # type: ignore[index]
    value = kubeseal_raw(kubeseal_bin, cert, "strict", namespace, "t", "from-bitnami")
    async with kit.controller(kube, namespace, sealing_namespace=keys_ns):
        await published_cert(kube, keys_ns, tmp_path)
        await kit.apply_sync(
            kube,
            namespace,
            "imported",
            {"target": {"name": "t"}, "data": [sealed_entry("k", value)]},
        )
        await kit.wait_condition(
            kube, namespace, "imported", "Ready", "False", timeout=30, reason="UnsealFailed"
        )
        await kube.create(SECRETS.path(keys_ns), bitnami)  # the import: the Secret as is
        await kit.wait_condition(kube, namespace, "imported", "Ready", timeout=30)
        assert kit.values(await kit.get_secret(kube, namespace, "t")) == {"k": "from-bitnami"}
