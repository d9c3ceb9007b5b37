"""Unseal benchmark: N SealedSecrets into their targets on a fresh control plane (issue #13).

`python -m bench.sealed [--smoke] [--count N]` starts its own control plane
and the controller in-process with sealing on, seals N SealedSecrets of one
key each (strict scope, for the published certificate), and times:

* secretloom: from the first create to every target Secret holding its value,
  read from the API server (a list every 0.2 s); each SealedSecret goes
  through its SecretSync, so this is the whole path (two objects, one RSA-4096
  opening and one server-side apply per SealedSecret);
* `kubeseal --recovery-unseal --recovery-private-key` of the same corpus (the
  same ciphertexts in Bitnami's format), one process per object, sequentially:
  what opening the corpus offline costs with Bitnami's own code;
* the restore (RTO): the keys and objects `secretloom backup` collects are
  applied (`secretloom restore`'s code) to a second, empty control plane, and
  a controller started there writes every target: time to applied, and to
  every target written.

Results go to bench/results/sealed.json (see bench/record.py) and a table on
stdout; `--smoke` uses 10 objects and a scratch directory. The controller
shares the process (and the two cores) with the harness: the figure is an
upper bound of what a dedicated controller needs.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from bench import record
from secretloom import seal
from secretloom.api import admission, sealing
from secretloom.api.crd import SEALED_SECRET
from secretloom.cli import backup
from secretloom.controllers.manager import Manager, Options
from secretloom.controllers.sealedsecret.reconciler import SEALED_SECRETS
from secretloom.runtime import crds
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.resources import CONFIGMAPS, NAMESPACES, SECRETS
from secretloom.testing import cluster as local

FULL_COUNT, SMOKE_COUNT = 1000, 10
KEYS, APPS = "bench-keys", "bench-sealed"
REPO = Path(__file__).resolve().parents[1]


def _kubeseal() -> Path:
    done = subprocess.run(
        ["bash", str(REPO / "hack" / "build-kubeseal.sh")],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(done.stdout.strip()) / "kubeseal"


async def _until(
    probe: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.2
) -> None:
    deadline = time.monotonic() + timeout
    while not await probe():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not met in time")
        await asyncio.sleep(interval)


async def _cert(kube: KubeClient) -> bytes:
    found: dict[str, str] = {}

    async def published() -> bool:
        try:
            cm = await kube.get(CONFIGMAPS.path(KEYS, sealing.CERT_CONFIGMAP))
        except ApiError:
            return False
        found.update(cm.get("data") or {})
        return bool(found.get(sealing.CERT_KEY))

    await _until(published, timeout=120)
    return found[sealing.CERT_KEY].encode()


def _corpus(cert: bytes, count: int) -> list[tuple[Obj, Obj, str]]:
    """(secretloom SealedSecret, the same ciphertext in Bitnami's format, expected value)."""
    public = seal.certificate_public_key(cert)
    corpus = []
    for i in range(count):
        name, value = f"s{i:04d}", f"value-{i}"
        encrypted = seal.seal_values(
            public, {"v": value.encode()}, scope="strict", namespace=APPS, name=name
        )
        ours = seal.document(encrypted, scope="strict", namespace=APPS, name=name)
        theirs = seal.document(
            encrypted, scope="strict", namespace=APPS, name=name, flavour="bitnami"
        )
        corpus.append((ours, theirs, value))
    return corpus


async def _all_written(kube: KubeClient, corpus: list[tuple[Obj, Obj, str]]) -> None:
    expected = {doc["metadata"]["name"]: value for doc, _, value in corpus}

    async def written() -> bool:
        items, _ = await kube.list(SECRETS.path(APPS))
        done = {
            s["metadata"]["name"]
            for s in items
            if s["metadata"]["name"] in expected
            and base64.b64decode((s.get("data") or {}).get("v", "")).decode()
            == expected[s["metadata"]["name"]]
        }
        return len(done) == len(expected)

    await _until(written, timeout=120 + len(corpus))


@contextlib.asynccontextmanager
async def _controller(kube: KubeClient) -> AsyncIterator[None]:
    options = Options(namespaces=[APPS], metrics_port=None, sealing_namespace=KEYS)
    task = asyncio.create_task(Manager(kube, options).run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _secretloom(kube: KubeClient, corpus: list[tuple[Obj, Obj, str]]) -> float:
    gate = asyncio.Semaphore(16)

    async def create(doc: Obj) -> None:
        async with gate:
            await kube.create(SEALED_SECRETS.path(APPS), doc)

    start = time.monotonic()
    await asyncio.gather(*(create(doc) for doc, _, _ in corpus))
    await _all_written(kube, corpus)
    return time.monotonic() - start


def _recovery(kubeseal: Path, key_pem: bytes, corpus: list[tuple[Obj, Obj, str]]) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-kubeseal-") as home:
        key = Path(home) / "tls.key"
        key.write_bytes(key_pem)
        env = {"HOME": home, "PATH": os.environ.get("PATH", "")}
        start = time.monotonic()
        for _, theirs, value in corpus:
            out = subprocess.run(
                [str(kubeseal), "--recovery-unseal", "--recovery-private-key", str(key),
                 "--format", "json"],
                input=json.dumps(theirs).encode(), capture_output=True, env=env, check=True,
            ).stdout  # fmt: skip
            assert base64.b64decode(json.loads(out)["data"]["v"]).decode() == value
        return time.monotonic() - start


Corpus = list[tuple[Obj, Obj, str]]


async def _measure(
    cp: local.Cluster, count: int, kubeseal: Path
) -> tuple[dict[str, float], list[Obj], Corpus]:
    async with KubeClient.from_kubeconfig(cp.kubeconfig, qps=0) as kube:
        await crds.install(kube, admission.bundle())
        for namespace in (KEYS, APPS):
            await kube.create(NAMESPACES.path(), {"metadata": {"name": namespace}})
        async with _controller(kube):
            cert = await _cert(kube)
            corpus = _corpus(cert, count)
            seconds = await _secretloom(kube, corpus)
        (key_secret,), _ = await kube.list(
            SECRETS.path(KEYS), params={"labelSelector": sealing.KEY_LABEL}
        )
        archive = await backup.collect(kube, KEYS)
    key_pem = base64.b64decode(key_secret["data"]["tls.key"])
    recovery = await asyncio.to_thread(_recovery, kubeseal, key_pem, corpus)
    return {"secretloom_s": seconds, "kubeseal_s": recovery}, archive, corpus


async def _restore(cp: local.Cluster, archive: list[Obj], corpus: Corpus) -> dict[str, float]:
    async with KubeClient.from_kubeconfig(cp.kubeconfig, qps=0) as kube:
        await crds.install(kube, admission.bundle())
        start = time.monotonic()
        await backup.apply_all(kube, archive)
        applied = time.monotonic() - start
        async with _controller(kube):
            await _all_written(kube, corpus)
        return {"restore_applied_s": applied, "restore_converged_s": time.monotonic() - start}


def run(*, smoke: bool, out_dir: Path, count: int | None = None) -> Path:
    count = count or (SMOKE_COUNT if smoke else FULL_COUNT)
    started, machine_info = time.monotonic(), record.machine()
    kubeseal = _kubeseal()
    with tempfile.TemporaryDirectory(prefix="secretloom-bench-sealed-") as scratch:
        with local.running(Path(scratch) / "cp", die_with_parent=True) as cp:
            times, archive, corpus = asyncio.run(_measure(cp, count, kubeseal))
        with local.running(Path(scratch) / "fresh", die_with_parent=True) as fresh:
            times |= asyncio.run(_restore(fresh, archive, corpus))
    summary = {
        "sealedsecrets": count,
        "secretloom_all_targets_s": round(times["secretloom_s"], 2),
        "secretloom_per_s": round(count / times["secretloom_s"], 1),
        "kubeseal_recovery_unseal_s": round(times["kubeseal_s"], 2),
        "kubeseal_per_object_ms": round(1000 * times["kubeseal_s"] / count, 1),
        "restore_applied_s": round(times["restore_applied_s"], 2),
        "restore_converged_s": round(times["restore_converged_s"], 2),
    }
    path = record.write(
        "sealed",
        out_dir=out_dir,
        machine_info=machine_info,
        versions={"kubeseal": "v0.40.0", "kind": SEALED_SECRET.api_version},
        parameters={"sealedsecrets": count, "keys_per_object": 1, "scope": "strict"},
        samples={"seconds": times},
        summary=summary,
        started=started,
    )
    print(
        "| SealedSecrets | secretloom: all targets written | per second | "
        "kubeseal --recovery-unseal, same corpus | restore: applied | restore: converged |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {count:,} | {summary['secretloom_all_targets_s']:.1f} s | "
        f"{summary['secretloom_per_s']:.0f} | {summary['kubeseal_recovery_unseal_s']:.1f} s "
        f"({summary['kubeseal_per_object_ms']:.0f} ms/object) | "
        f"{summary['restore_applied_s']:.1f} s | {summary['restore_converged_s']:.1f} s |"
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_COUNT} SealedSecrets")
    parser.add_argument("--count", type=int, help=f"SealedSecrets (default {FULL_COUNT})")
    args = parser.parse_args()
    out_dir = (
        Path(tempfile.mkdtemp(prefix="secretloom-bench-smoke-")) if args.smoke else record.RESULTS
    )
    print(f"wrote {run(smoke=args.smoke, out_dir=out_dir, count=args.count)}")


if __name__ == "__main__":
    main()
