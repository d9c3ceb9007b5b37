"""The Helm chart driven by the real `helm`, and the controller run on the chart's own identity.

`Helm` runs the pinned helm binary (hack/install-tools.sh) with private
config/cache directories, so a developer's repositories and plugins never
leak into a test. Rendering goes through `helm template` and installing
through `helm install` against a real control plane: the chart's schema, its
templates and its RBAC are judged by Helm and the API server, not by a copy of
their rules here.

`service_account_token` and `token_kubeconfig` are how a pod would see the API
server: a token minted by TokenRequest for the chart's ServiceAccount, so
whatever the controller does with it is authorized by the chart's Roles and
nothing else.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.resources import SECRET_SYNCS
from secretloom.testing import cluster as local
from tests.e2e import kit

RELEASE = "secretloom"
NAMESPACE = "secretloom-system"
EXAMPLE = "examples/argocd-notifications"
# Field managers the seed's tools write with (as `secretloom demo` applies them).
EXAMPLE_MANAGERS = {"00": "helm", "10": "vault-secrets-operator"}
METRIC = re.compile(r"\bsecretloom_[a-z0-9_]+")
INSTANCE = f"app.kubernetes.io/instance={RELEASE}"
# Every kind the chart renders that carries its labels (the admission policies are
# copied verbatim: `live` finds them by manifest).
LABELLED_KINDS = (
    "deployments,services,serviceaccounts,configmaps,roles,rolebindings,leases,"
    "poddisruptionbudgets,networkpolicies,clusterroles,clusterrolebindings"
)


@dataclass(frozen=True)
class Helm:
    binary: Path
    home: Path  # HELM_CONFIG_HOME, HELM_CACHE_HOME and HELM_DATA_HOME live here
    chart: Path
    kubeconfig: Path | None = None

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.home),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = str(self.kubeconfig)
        done = subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, env=env, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{done.stderr}")
        return done

    def values_file(self, values: Mapping[str, Any]) -> Path:
        path = self.home / f"values-{time.monotonic_ns()}.yaml"
        path.write_text(yaml.safe_dump(dict(values)))
        return path

    def template(self, values: Mapping[str, Any] | None = None) -> list[Obj]:
        """Every object the chart renders (crds/ included) with `values`."""
        done = self.run(
            "template",
            RELEASE,
            str(self.chart),
            "--namespace",
            NAMESPACE,
            "--include-crds",
            "-f",
            str(self.values_file(values or {})),
        )
        return [doc for doc in yaml.safe_load_all(done.stdout) if doc]

    def refused(self, *args: str) -> str:
        """What a helm command that must fail printed (lint reports on stdout)."""
        done = self.run(*args, check=False)
        assert done.returncode != 0, f"helm {' '.join(args)} was accepted:\n{done.stdout}"
        return done.stdout + done.stderr

    def install(self, command: str, values: Mapping[str, Any]) -> float:
        """`helm install` or `helm upgrade`; returns its wall time in seconds."""
        started = time.monotonic()
        self.run(
            command,
            RELEASE,
            str(self.chart),
            "--namespace",
            NAMESPACE,
            "-f",
            str(self.values_file(values)),
        )
        return time.monotonic() - started

    def manifest(self) -> list[Obj]:
        """The objects of the deployed release, as Helm recorded them."""
        done = self.run("get", "manifest", RELEASE, "--namespace", NAMESPACE)
        return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def of_kind(objects: Iterable[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: Iterable[Obj], kind: str, name: str | None = None) -> Obj:
    found = [o for o in of_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {kind} named {name}"
    return found[0]


def container_args(deployment: Obj) -> list[str]:
    return list(deployment["spec"]["template"]["spec"]["containers"][0]["args"])


def controller_flags(deployment: Obj) -> list[str]:
    """The Deployment's `secretloom controller` flags, minus the metrics address.

    The test harness binds metrics to a free loopback port; everything else
    runs exactly as the chart configures the pod.
    """
    args = container_args(deployment)
    assert args[0] == "controller", args
    return [a for a in args[1:] if not a.startswith("--metrics-addr")]


async def service_account_token(kube: KubeClient, namespace: str, name: str) -> str:
    """A token of ServiceAccount namespace/name, minted by TokenRequest as a kubelet would."""
    review = await kube.create(
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        },
    )
    return str(review["status"]["token"])


def token_kubeconfig(cluster: local.Cluster, user: str, token: str, path: Path) -> Path:
    """A kubeconfig for `cluster` that authenticates with `token` only."""
    server = {"server": cluster.server, "certificate-authority": str(cluster.ca_cert)}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": server}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
        "current-context": "local",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


async def status_of(kube: KubeClient, path: str) -> int:
    """HTTP status of a GET, as the real authorizer answers it."""
    try:
        await kube.get(path)
    except ApiError as err:
        return err.status
    return 200


async def ensure_namespaces(kube: KubeClient, *names: str) -> None:
    for name in names:
        try:
            await kube.create("/api/v1/namespaces", {"metadata": {"name": name}})
        except ApiError as err:
            if err.status != 409:
                raise


def example_manifests(repo_root: Path) -> list[tuple[str, Obj]]:
    """(file name, object) of the seed's scenario, in file-name order."""
    return [
        (path.name, doc)
        for path in sorted((repo_root / EXAMPLE).glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


async def composition_scenario(kube: KubeClient, repo_root: Path) -> None:
    """examples/argocd-notifications through a running controller, as `make demo` shows it.

    Two teams' SecretSyncs each own one key of the Secret Argo CD Notifications
    reads; a rotated source reaches the target; deleting a SecretSync takes its
    key away and leaves the other team's. Exercises every verb the chart grants
    on Secrets and SecretSyncs (finalizer, status, list/watch, create/patch).
    """
    syncs: list[Obj] = []
    sources: dict[str, dict[str, str]] = {}
    for file_name, doc in example_manifests(repo_root):
        meta = doc["metadata"]
        if doc["kind"] == "Secret":
            data = dict(doc.get("stringData") or {})
            sources[meta["name"]] = data
            manager = EXAMPLE_MANAGERS[file_name[:2]]
            await kit.put_secret(kube, meta["namespace"], meta["name"], data, manager=manager)
        else:
            await kit.apply_sync(kube, meta["namespace"], meta["name"], doc["spec"])
            syncs.append(doc)
    namespace = syncs[0]["metadata"]["namespace"]
    target = syncs[0]["spec"]["target"]["name"]
    expected = {
        entry["key"]: sources[entry["from"]["secret"]][entry["from"]["key"]]
        for sync in syncs
        for entry in sync["spec"]["data"]
    }
    for sync in syncs:
        await kit.wait_condition(kube, namespace, sync["metadata"]["name"], "Ready", timeout=30)
    secret = await kit.get_secret(kube, namespace, target)
    assert kit.values(secret) == expected
    owners = kit.owners(secret or {})
    for sync in syncs:
        manager = f"secretloom/{namespace}/{sync['metadata']['name']}"
        assert owners[manager] == {e["key"] for e in sync["spec"]["data"]}, owners

    entry = syncs[-1]["spec"]["data"][0]
    await kit.put_secret(
        kube,
        namespace,
        entry["from"]["secret"],
        {entry["from"]["key"]: "rotated"},
        manager="vault-secrets-operator",
    )

    async def landed() -> bool:
        values = kit.values(await kit.get_secret(kube, namespace, target))
        return values.get(entry["key"]) == "rotated"

    await kit.eventually(landed, timeout=15)

    gone = syncs[0]
    await kube.delete(SECRET_SYNCS.path(namespace, gone["metadata"]["name"]))
    dropped = {e["key"] for e in gone["spec"]["data"]}

    async def released() -> bool:
        values = kit.values(await kit.get_secret(kube, namespace, target))
        still = await status_of(kube, SECRET_SYNCS.path(namespace, gone["metadata"]["name"]))
        return still == 404 and not dropped & values.keys() and entry["key"] in values

    await kit.eventually(released, timeout=15)


def exposed_metric_names(exposition: str) -> set[str]:
    """Every metric name in a Prometheus text exposition (HELP/TYPE lines and samples)."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def referenced_metric_names(text: str) -> set[str]:
    return set(METRIC.findall(text))


def live(cluster: local.Cluster, objects: Iterable[Obj], scratch: Path) -> list[str]:
    """Which of `objects` exist, as `kind/name` (kubectl resolves every kind itself)."""
    manifest = scratch / f"objects-{time.monotonic_ns()}.yaml"
    manifest.write_text(yaml.safe_dump_all(list(objects)))
    return cluster.kubectl("get", "-f", str(manifest), "--ignore-not-found", "-o", "name").split()


def forbidden_lines(log: Path) -> list[str]:
    """Log records of requests the chart's RBAC refused (none may exist).

    The API server words every 403 as `... is forbidden: User ... cannot ...`.
    """
    return [line for line in log.read_text().splitlines() if "forbidden" in line.lower()]


def strays(cluster: local.Cluster, objects: list[Obj], scratch: Path) -> list[str]:
    """Objects of the release still present, by manifest and by the release's label."""
    labelled = cluster.kubectl("get", LABELLED_KINDS, "-A", "-l", INSTANCE, "-o", "name").split()
    return live(cluster, objects, scratch) + labelled
