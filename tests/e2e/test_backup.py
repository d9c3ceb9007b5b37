"""Backup, then restore into a fresh control plane: keys and objects back, targets converge (#13).

The archive is made by `secretloom backup` from the session's control plane,
encrypted to an age recipient; a second control plane is started empty (its
own etcd), `secretloom restore` applies the archive there, and a controller
on it writes every target again, opening values sealed before the backup
with the restored keys. The archive's bytes hold no key and no value.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pyrage  # type: ignore[import-untyped]

from secretloom import seal
from secretloom.api import admission, sealing
from secretloom.controllers.sealedsecret.reconciler import SEALED_SECRETS
from secretloom.runtime import crds
from secretloom.runtime.kube import KubeClient
from secretloom.runtime.resources import SECRET_SYNCS, SECRETS
from secretloom.testing import cluster as local
from tests.e2e import kit
from tests.e2e.test_sealed import keys_ns, published_cert, sealed_entry

__all__ = ["keys_ns"]  # the fixture, for these tests
SECRETLOOM = str(Path(sys.executable).parent / "secretloom")
VALUES = {"one": "restored-canary-1", "two": "restored-canary-2"}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SECRETLOOM, *args], capture_output=True, text=True, check=False, timeout=120
    )


async def test_backup_restores_keys_and_objects_into_a_fresh_control_plane(
    kube: KubeClient, namespace: str, keys_ns: str, cluster: local.Cluster, tmp_path: Path
) -> None:
    identity = pyrage.x25519.Identity.generate()
    (tmp_path / "id.txt").write_text(str(identity) + "\n")
    async with kit.controller(kube, namespace, sealing_namespace=keys_ns):
        cert = (await published_cert(kube, keys_ns, tmp_path)).read_bytes()
        public = seal.certificate_public_key(cert)
        encrypted = seal.seal_values(
            public, {"one": VALUES["one"].encode()}, scope="strict", namespace=namespace, name="t"
        )
        doc = seal.document(encrypted, scope="strict", namespace=namespace, name="one", target="t")
        await kube.apply(SEALED_SECRETS.path(namespace, "one"), doc, field_manager="kubectl")
        (value,) = seal.seal_values(
            public, {"two": VALUES["two"].encode()}, scope="namespace-wide", namespace=namespace,
            name="t",
        ).values()  # fmt: skip
        spec = {"target": {"name": "t"}, "data": [sealed_entry("two", value, "namespace-wide")]}
        await kit.apply_sync(kube, namespace, "two", spec)
        await kit.wait_condition(kube, namespace, "two", "Ready", timeout=30)
        await kit.wait_condition(kube, namespace, "one", "Ready", timeout=30)
        keys_before = {
            s["metadata"]["name"]: s["data"]["tls.key"]
            for s in (await kube.list(SECRETS.path(keys_ns)))[0]
            if sealing.KEY_LABEL in (s["metadata"].get("labels") or {})
        }
    archive = tmp_path / "backup.age"
    done = cli(
        "backup", "--kubeconfig", str(cluster.kubeconfig), "--sealing-namespace", keys_ns,
        "--recipient", str(identity.to_public()), "-o", str(archive),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    raw = archive.read_bytes()
    assert raw.startswith(b"age-encryption.org/v1")
    for secret in (*VALUES.values(), "PRIVATE KEY", *keys_before.values()):
        assert secret.encode() not in raw and base64.b64encode(secret.encode())[:20] not in raw

    with local.running(tmp_path / "fresh", die_with_parent=True) as fresh:
        async with KubeClient.from_kubeconfig(fresh.kubeconfig, qps=0) as other:
            await crds.install(other, admission.bundle())
            done = cli(
                "restore", "--kubeconfig", str(fresh.kubeconfig), "--identity",
                str(tmp_path / "id.txt"), "-i", str(archive),
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            keys_after = {
                s["metadata"]["name"]: s["data"]["tls.key"]
                for s in (await other.list(SECRETS.path(keys_ns)))[0]
            }
            assert keys_after == keys_before
            assert await other.list(SECRET_SYNCS.path(namespace)) and "restored" in done.stderr
            async with kit.controller(other, namespace, sealing_namespace=keys_ns):

                async def converged() -> bool:
                    return kit.values(await kit.get_secret(other, namespace, "t")) == VALUES

                await kit.eventually(converged, timeout=60, interval=0.2)


def test_restore_errors_are_one_line(tmp_path: Path) -> None:
    wrong = pyrage.x25519.Identity.generate()
    (tmp_path / "wrong.txt").write_text(str(wrong) + "\n")
    (tmp_path / "junk.age").write_bytes(b"not an archive")
    (tmp_path / "empty.txt").write_text("# no identity\n")
    cases = {
        ("-i", str(tmp_path / "junk.age"), "--identity", str(tmp_path / "wrong.txt")): "not an age",
        (
            "-i",
            str(tmp_path / "junk.age"),
            "--identity",
            str(tmp_path / "empty.txt"),
        ): "no age identity",
        ("-i", str(tmp_path / "absent"), "--identity", str(tmp_path / "wrong.txt")): "absent",
    }
    for args, expected in cases.items():
        done = cli("restore", "--kubeconfig", str(tmp_path / "none"), *args)
        assert done.returncode == 1 and expected in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    done = cli("backup", "--recipient", "age1nope", "-o", str(tmp_path / "x"))
    assert done.returncode == 1 and "age X25519 recipient" in done.stderr
