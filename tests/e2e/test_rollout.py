"""Rollout restarts with the real kube-controller-manager's Deployment controller (issue 14).

ReplicaSets are what a restart costs: each pod template change makes one. So
the test counts them, per Deployment, through a first sync (none), a rotation
(one for the listed and the opted-in Deployment, none for the one that only
mounts the Secret), a burst of 100 source updates inside the debounce window
(one), and a minute of refreshes and source writes that change no value (none).
Then admission: an author who may not patch a Deployment cannot name it. An Argo
Rollouts `Rollout` (its own CRD, from the argo-rollouts module: Argo Rollouts'
controller itself does not run here) gets the same pod-template annotation,
which is the new revision Argo Rollouts then rolls out by its strategy.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from secretloom.api.secretsync import REFRESH_ANNOTATION, RESTART_ON_CHANGE_ANNOTATION
from secretloom.controllers.secretsync.rollout import ANNOTATION_PREFIX, WORKLOADS
from secretloom.runtime import crds
from secretloom.runtime.kube import KubeClient, Obj
from secretloom.runtime.resources import SECRET_SYNCS, Resource
from secretloom.testing import cluster as local
from tests.e2e import kit
from tests.e2e.test_admission import create, refusal, rule, secret_sync, tenant

REPLICASETS = Resource("apps", "v1", "replicasets")
DEPLOYMENTS = WORKLOADS["Deployment"]
ROLLOUTS = WORKLOADS["Rollout"]
DEBOUNCE = 8.0
SECRET = "app-db"


def deployment(name: str, annotations: dict[str, str] | None = None) -> Obj:
    labels = {"app": name}
    env = [
        {
            "name": "PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "password"}},
        }
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "app:1", "env": env}]},
            },
        },
    }


async def replicasets(kube: KubeClient, namespace: str) -> dict[str, int]:
    """ReplicaSets per owning Deployment."""
    items, _ = await kube.list(REPLICASETS.path(namespace))
    counts: dict[str, int] = {}
    for item in items:
        for ref in item["metadata"].get("ownerReferences") or []:
            counts[ref["name"]] = counts.get(ref["name"], 0) + 1
    return counts


async def wait_counts(kube: KubeClient, namespace: str, wanted: dict[str, int]) -> None:
    async def reached() -> bool:
        return await replicasets(kube, namespace) == wanted

    await kit.eventually(reached, timeout=DEBOUNCE + 15)


async def hold(kube: KubeClient, namespace: str, wanted: dict[str, int], seconds: float) -> None:
    """The counts stay `wanted` for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert await replicasets(kube, namespace) == wanted
        await asyncio.sleep(0.5)


async def set_password(kube: KubeClient, namespace: str, value: str) -> None:
    await kit.put_secret(kube, namespace, "src", {"password": value}, manager="dba")


async def test_one_replicaset_per_effective_change_none_for_nothing(
    kube: KubeClient, namespace: str
) -> None:
    for name, opt_in in (
        ("listed", None),
        ("opted-in", {RESTART_ON_CHANGE_ANNOTATION: f"other, {SECRET}"}),
        ("bystander", None),  # mounts the Secret, neither listed nor opted in
    ):
        await kube.create(DEPLOYMENTS.path(namespace), deployment(name, opt_in))
    await set_password(kube, namespace, "v1")
    spec = kit.sync_spec(SECRET, {"password": ("src", "password")})
    spec["rollout"] = {
        "restart": [{"kind": "Deployment", "name": "listed"}],
        "debounce": f"{DEBOUNCE:.0f}s",
    }
    one_each = {"listed": 1, "opted-in": 1, "bystander": 1}
    async with kit.controller(kube, namespace):
        await kit.apply_sync(kube, namespace, "db", spec)
        await kit.wait_condition(kube, namespace, "db", "Ready")
        await wait_counts(kube, namespace, one_each)
        await hold(kube, namespace, one_each, DEBOUNCE + 2)  # the first sync restarts nothing

        # One rotation: one new ReplicaSet for the listed and the opted-in Deployment.
        await set_password(kube, namespace, "v2")
        await wait_counts(kube, namespace, {"listed": 2, "opted-in": 2, "bystander": 1})
        sync = await kit.get_sync(kube, namespace, "db")
        rollout = sync["status"]["rollout"]
        assert rollout["restarted"] == rollout["pendingSince"]
        listed = await kube.get(DEPLOYMENTS.path(namespace, "listed"))
        template = listed["spec"]["template"]["metadata"]["annotations"]
        assert template == {f"{ANNOTATION_PREFIX}db": rollout["restarted"]}

        # A burst of 100 updates inside the debounce window: one restart.
        start = time.monotonic()
        for n in range(100):
            await set_password(kube, namespace, f"burst-{n}")
        assert time.monotonic() - start < DEBOUNCE
        three = {"listed": 3, "opted-in": 3, "bystander": 1}
        await wait_counts(kube, namespace, three)
        events = await kit.events_for(kube, namespace, "db")
        assert any(e["reason"] == "RolloutRestarted" for e in events)

        # A minute of refreshes and source writes that change no value: no restart.
        end = time.monotonic() + 60
        n = 0
        while time.monotonic() < end:
            n += 1
            await kube.merge_patch(
                SECRET_SYNCS.path(namespace, "db"),
                {"metadata": {"annotations": {REFRESH_ANNOTATION: str(n)}}},
            )
            await kit.put_secret(
                kube, namespace, "src", {"password": "burst-99", "unrelated": str(n)}, manager="x"
            )
            await hold(kube, namespace, three, 3)
        values = kit.values(await kit.get_secret(kube, namespace, SECRET))
        assert values == {"password": "burst-99"}


async def test_a_secretsync_restarts_only_what_its_author_can_patch(
    kube: KubeClient, cluster: local.Cluster, namespace: str, tmp_path: Path
) -> None:
    await tenant(
        kube,
        cluster,
        namespace,
        rule("secrets", "patch", "create", names=("app",)),
        rule("deployments", "patch", names=("mine",), group="apps"),
    )
    for name in ("mine", "theirs"):
        await kube.create(DEPLOYMENTS.path(namespace), deployment(name))

    def with_rollout(*names: str) -> Obj:
        obj = secret_sync(f"s-{len(names)}", "app", {"k": "mine"})
        restart = [{"kind": "Deployment", "name": n} for n in names]
        obj["spec"]["rollout"] = {"restart": restart}
        return obj

    printed = create(cluster, tmp_path, namespace, with_rollout("mine", "theirs"))
    why = "a SecretSync may only restart workloads its author can patch"
    assert (
        refusal("patch", "Deployment", "theirs", namespace, "spec.rollout.restart[1]", why)
        in printed
    )
    assert create(cluster, tmp_path, namespace, with_rollout("mine")) == ""


@pytest.fixture(scope="session")
def rollout_crd(repo_root: Path) -> Obj:
    """Argo Rollouts' own Rollout CRD (`make argo-rollouts-crd` caches it)."""
    found = subprocess.run(
        ["bash", str(repo_root / "hack" / "argo-rollouts-crd.sh"), "--cached"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    crd: Obj = yaml.safe_load(Path(found).read_text())
    return crd


async def test_an_argo_rollout_gets_the_same_pod_template_annotation(
    kube: KubeClient, namespace: str, rollout_crd: Obj
) -> None:
    await crds.install(kube, [rollout_crd])
    for name, opt_in in (("canary", None), ("opted-in", {RESTART_ON_CHANGE_ANNOTATION: SECRET})):
        body = deployment(name, opt_in) | {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout"}
        body["spec"]["strategy"] = {"canary": {}}
        await kube.create(ROLLOUTS.path(namespace), body)
    await set_password(kube, namespace, "v1")
    spec = kit.sync_spec(SECRET, {"password": ("src", "password")})
    spec["rollout"] = {"restart": [{"kind": "Rollout", "name": "canary"}], "debounce": "1s"}

    async def annotations(name: str) -> dict[str, str]:
        template = (await kube.get(ROLLOUTS.path(namespace, name)))["spec"]["template"]
        return dict((template.get("metadata") or {}).get("annotations") or {})

    async with kit.controller(kube, namespace):
        await kit.apply_sync(kube, namespace, "db", spec)
        await kit.wait_condition(kube, namespace, "db", "Ready")
        await asyncio.sleep(2)  # past the debounce: the first sync restarts nothing
        assert await annotations("canary") == {} and await annotations("opted-in") == {}

        await set_password(kube, namespace, "v2")

        async def restarted() -> bool:
            rollout = (await kit.get_sync(kube, namespace, "db"))["status"].get("rollout") or {}
            return bool(rollout.get("restarted"))

        await kit.eventually(restarted, timeout=15)
        rollout = (await kit.get_sync(kube, namespace, "db"))["status"]["rollout"]
        wanted = {f"{ANNOTATION_PREFIX}db": rollout["restarted"]}
        assert await annotations("canary") == wanted
        assert await annotations("opted-in") == wanted
        assert not rollout.get("problems")
