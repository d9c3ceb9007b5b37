"""The SealedSecret kind on the real control plane (issue #13).

One team seals one key into the shared Argo CD Notifications Secret with
`secretloom seal` (the certificate fetched from the cluster); it lands next
to a SecretSync's key, each owned by its own field manager, and deleting the
SealedSecret releases exactly its key. Authoring one needs what the
equivalent SecretSync needs (the admission policy asks the authorizer).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import yaml

from secretloom.controllers.sealedsecret.reconciler import SEALED_SECRETS
from secretloom.controllers.sealedsecret.translate import OWNED_BY_LABEL, owner_label_value
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.testing import cluster as local
from tests.e2e import kit
from tests.e2e.test_admission import (
    WRITE,
    controller_with_shipped_role,
    create,
    grant,
    refusal,
    rule,
    tenant,
    user_subject,
)
from tests.e2e.test_sealed import TARGET, keys_ns, published_cert

__all__ = ["keys_ns"]  # the fixture, for these tests
SECRETLOOM = str(Path(sys.executable).parent / "secretloom")


def seal_cli(cluster: local.Cluster, keys_namespace: str, namespace: str, *args: str) -> Obj:
    done = subprocess.run(
        [SECRETLOOM, "seal", "--kubeconfig", str(cluster.kubeconfig),
         "--controller-namespace", keys_namespace, "--namespace", namespace, *args],
        capture_output=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc: Obj = yaml.safe_load(done.stdout)
    return doc


async def sealed_ready(kube: KubeClient, namespace: str, name: str) -> Obj:
    found: Obj = {}

    async def probe() -> bool:
        nonlocal found
        found = await kube.get(SEALED_SECRETS.path(namespace, name))
        cond = kit.condition(found, "Ready")
        return cond.get("status") == "True" and cond.get("observedGeneration") == found[
            "metadata"
        ].get("generation")

    await kit.eventually(probe, timeout=30, interval=0.1)
    return found


async def test_one_sealed_key_composes_into_a_shared_target_and_leaves_alone(
    kube: KubeClient, namespace: str, keys_ns: str, cluster: local.Cluster, tmp_path: Path
) -> None:
    async with kit.controller(kube, namespace, sealing_namespace=keys_ns):
        await published_cert(kube, keys_ns, tmp_path)
        await kit.put_secret(kube, namespace, TARGET, {}, manager="helm")
        await kit.put_secret(kube, namespace, "gitlab-src", {"t": "gl-1"}, manager="vso")
        await kit.apply_sync(
            kube, namespace, "gitlab", kit.sync_spec(TARGET, {"gitlab-token": ("gitlab-src", "t")})
        )
        doc = seal_cli(
            cluster, keys_ns, namespace,
            "--name", "slack", "--target", TARGET, "--from-literal", "slack-token=xoxb-42",
        )  # fmt: skip
        assert doc["spec"]["target"] == {"name": TARGET, "type": "Opaque"}
        await kube.apply(
            SEALED_SECRETS.path(namespace, "slack"), doc, field_manager="kubectl", force=True
        )
        sealed = await sealed_ready(kube, namespace, "slack")
        assert sealed["status"]["secretSync"] == "slack"
        await kit.wait_condition(kube, namespace, "gitlab", "Ready")
        target = await kit.get_secret(kube, namespace, TARGET)
        assert target is not None
        assert kit.values(target) == {"gitlab-token": "gl-1", "slack-token": "xoxb-42"}
        owners = kit.owners(target)
        assert owners[f"secretloom/{namespace}/slack"] == {"slack-token"}
        assert owners[f"secretloom/{namespace}/gitlab"] == {"gitlab-token"}

        await kube.delete(SEALED_SECRETS.path(namespace, "slack"))

        async def released() -> bool:
            values = kit.values(await kit.get_secret(kube, namespace, TARGET))
            try:
                await kit.get_sync(kube, namespace, "slack")
            except ApiError as err:
                return err.status == 404 and values == {"gitlab-token": "gl-1"}
            return False

        await kit.eventually(released, timeout=30, interval=0.1)


async def test_a_sealed_secret_named_over_63_characters_is_written_and_ready(
    kube: KubeClient, namespace: str, keys_ns: str, cluster: local.Cluster, tmp_path: Path
) -> None:
    # Its name went into a label value on its SecretSync (at most 63): the apply
    # was refused with 422, nothing reported it, and it was retried forever.
    name = "long-" + "n" * 60 + "-name"
    assert len(name) == 70
    value = "long-name-value-42"
    async with kit.controller(kube, namespace, sealing_namespace=keys_ns):
        await published_cert(kube, keys_ns, tmp_path)
        doc = seal_cli(cluster, keys_ns, namespace, "--name", name, "--from-literal", f"k={value}")
        await kube.apply(
            SEALED_SECRETS.path(namespace, name), doc, field_manager="kubectl", force=True
        )
        sealed = await sealed_ready(kube, namespace, name)
        assert sealed["status"]["secretSync"] == name
        label = (await kit.get_sync(kube, namespace, name))["metadata"]["labels"][OWNED_BY_LABEL]
        assert label == owner_label_value(name) and len(label) <= 63
        written = kit.values(await kit.get_secret(kube, namespace, name))
        digests = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in written.items()}
        assert digests == {"k": hashlib.sha256(value.encode()).hexdigest()}


async def test_an_owner_sealed_secret_is_written_by_the_controller_on_its_shipped_role(
    kube: KubeClient,
    namespace: str,
    keys_ns: str,
    cluster: local.Cluster,
    tmp_path: Path,
    repo_root: Path,
) -> None:
    """The controller creates the SecretSync of a `creationPolicy: Owner` SealedSecret (Bitnami's
    default), and the SecretSync policy asks its creator for `delete` on the target: without it
    in the shipped Role, every such SealedSecret was refused on a real install."""
    async with controller_with_shipped_role(
        kube, cluster, namespace, repo_root, tmp_path, sealing_namespace=keys_ns
    ):
        await published_cert(kube, keys_ns, tmp_path)
        doc = seal_cli(cluster, keys_ns, namespace, "--name", "owned", "--from-literal", "k=v-7")
        doc["spec"]["target"]["creationPolicy"] = "Owner"
        await kube.apply(
            SEALED_SECRETS.path(namespace, "owned"), doc, field_manager="kubectl", force=True
        )
        await sealed_ready(kube, namespace, "owned")
        target = await kit.get_secret(kube, namespace, "owned")
        assert target is not None and kit.values(target) == {"k": "v-7"}
        assert [r["kind"] for r in target["metadata"]["ownerReferences"]] == ["SecretSync"]


async def test_a_sealed_secret_of_a_taken_name_is_refused_not_merged(
    kube: KubeClient, namespace: str, keys_ns: str, cluster: local.Cluster, tmp_path: Path
) -> None:
    async with kit.controller(kube, namespace, sealing_namespace=keys_ns):
        await published_cert(kube, keys_ns, tmp_path)
        await kit.put_secret(kube, namespace, "src", {"t": "v"}, manager="vso")
        await kit.apply_sync(kube, namespace, "taken", kit.sync_spec("t", {"k": ("src", "t")}))
        doc = seal_cli(cluster, keys_ns, namespace, "--name", "taken", "--from-literal", "x=y")
        await kube.apply(
            SEALED_SECRETS.path(namespace, "taken"), doc, field_manager="kubectl", force=True
        )

        async def refused() -> bool:
            obj = await kube.get(SEALED_SECRETS.path(namespace, "taken"))
            return kit.condition(obj, "Ready").get("reason") == "NameTaken"

        await kit.eventually(refused, timeout=30, interval=0.1)
        sync = await kit.get_sync(kube, namespace, "taken")
        assert [e["from"] for e in sync["spec"]["data"]] == [{"secret": "src", "key": "t"}]


async def test_authoring_a_sealed_secret_needs_write_on_its_target(
    kube: KubeClient, namespace: str, cluster: local.Cluster, tmp_path: Path
) -> None:
    sealed_rule = rule("sealedsecrets", "*", group="secretloom.io")
    await tenant(kube, cluster, namespace, sealed_rule)
    obj = {
        "apiVersion": "secretloom.io/v1alpha1",
        "kind": "SealedSecret",
        "metadata": {"name": "s"},
        "spec": {"target": {"name": "theirs"}, "encryptedData": {"k": "QUJDRA=="}},
    }
    refused = create(cluster, tmp_path, namespace, obj)
    assert refusal("patch", "Secret", "theirs", namespace, "spec.target.name", WRITE) in refused
    await grant(
        kube, namespace, [rule("secrets", "patch", "create", names=("theirs",))], user_subject()
    )
    assert create(cluster, tmp_path, namespace, obj) == ""
