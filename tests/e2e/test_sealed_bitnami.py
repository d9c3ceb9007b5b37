"""`--serve-bitnami-sealed-secrets`: Bitnami's own objects, unchanged, served by secretloom (#13).

Bitnami's CRD (copied from the sealed-secrets module by `make kubeseal`) is
installed on the session's control plane; a SealedSecret made by the real
`kubeseal` from a whole Secret, for secretloom's published certificate, is
applied as a cluster switching controllers would have it in Git. Judged by
the target Secret, its owner chain and the `Synced` condition Bitnami's
tools (Argo CD's health check among them) read.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import yaml

from secretloom.api.admission import BITNAMI_OWN, BITNAMI_WRITE
from secretloom.controllers.sealedsecret.reconciler import BITNAMI_SEALED_SECRETS
from secretloom.runtime import crds
from secretloom.runtime.kube import KubeClient, Obj
from secretloom.testing import cluster as local
from tests.e2e import kit
from tests.e2e.test_admission import create, grant, refusal, rule, tenant, user_subject
from tests.e2e.test_sealed import keys_ns, published_cert
from tests.sealed.conftest import Kubeseal, kubeseal_bin

__all__ = ["keys_ns", "kubeseal_bin"]  # the fixtures, for these tests


async def test_a_kubeseal_sealed_secret_is_served_unchanged(
    kube: KubeClient, namespace: str, keys_ns: str, kubeseal_bin: Kubeseal, tmp_path: Path
) -> None:
    crd = yaml.safe_load((kubeseal_bin.bin_dir / "bitnami.com_sealedsecrets.yaml").read_text())
    await crds.install(kube, [crd])
    async with kit.controller(kube, namespace, sealing_namespace=keys_ns, serve_bitnami=True):
        cert = await published_cert(kube, keys_ns, tmp_path)
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "legacy", "namespace": namespace},
            "type": "kubernetes.io/basic-auth",
            "data": {
                "username": base64.b64encode(b"admin").decode(),
                "password": base64.b64encode(b"from-kubeseal").decode(),
            },
        }
        sealed: Obj = json.loads(
            kubeseal_bin.run(
                "--cert", str(cert), "--format", "json", stdin=json.dumps(secret).encode()
            )
        )
        assert sealed["apiVersion"] == "bitnami.com/v1alpha1"
        await kube.apply(
            BITNAMI_SEALED_SECRETS.path(namespace, "legacy"), sealed, field_manager="argocd"
        )

        async def synced() -> bool:
            obj = await kube.get(BITNAMI_SEALED_SECRETS.path(namespace, "legacy"))
            cond = kit.condition(obj, "Synced")
            return cond.get("status") == "True"

        await kit.eventually(synced, timeout=30, interval=0.1)
        target = await kit.get_secret(kube, namespace, "legacy")
        assert target is not None
        assert target["type"] == "kubernetes.io/basic-auth"
        assert kit.values(target) == {"username": "admin", "password": "from-kubeseal"}
        sync = await kit.get_sync(kube, namespace, "legacy")
        (owner,) = sync["metadata"]["ownerReferences"]
        assert (owner["apiVersion"], owner["kind"]) == ("bitnami.com/v1alpha1", "SealedSecret")
        assert sync["spec"]["target"]["creationPolicy"] == "Owner"
        assert kit.owners(target)[f"secretloom/{namespace}/legacy"] == {"username", "password"}


async def test_authoring_one_needs_write_and_delete_on_the_secret_of_its_name(
    kube: KubeClient, namespace: str, cluster: local.Cluster, kubeseal_bin: Kubeseal, tmp_path: Path
) -> None:
    crd = yaml.safe_load((kubeseal_bin.bin_dir / "bitnami.com_sealedsecrets.yaml").read_text())
    await crds.install(kube, [crd])
    await tenant(kube, cluster, namespace, rule("sealedsecrets", "*", group="bitnami.com"))
    obj: Obj = {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": {"name": "theirs"},
        "spec": {"encryptedData": {"k": "QUJDRA=="}},
    }
    refused = create(cluster, tmp_path, namespace, obj)
    assert (
        refusal("patch", "Secret", "theirs", namespace, "metadata.name", BITNAMI_WRITE) in refused
    )
    await grant(
        kube, namespace, [rule("secrets", "patch", "create", names=("theirs",))], user_subject()
    )
    refused = create(cluster, tmp_path, namespace, obj)
    assert refusal("delete", "Secret", "theirs", namespace, "metadata.name", BITNAMI_OWN) in refused
    patching: Obj = {
        **obj,
        "spec": {
            **obj["spec"],
            "template": {"metadata": {"annotations": {"sealedsecrets.bitnami.com/patch": "true"}}},
        },
    }
    assert create(cluster, tmp_path, namespace, patching) == ""
