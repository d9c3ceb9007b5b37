"""Authoring a SecretSync or a store never grants what its author lacks (Kyverno GHSA-8p9x class).

The tenant is the cluster's non-admin user with a Role in the test's
namespace: every verb on SecretSyncs and SecretStores, and `get` on one Secret,
`mine`. The policies (`deploy/admission/`) are installed by the `kube` fixture
as `secretloom install-crds` installs them; what the tenant sees is read from
kubectl's own output. Without the policies every request below is admitted.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml

from secretloom.api.crd import CLUSTER_SECRET_STORE, SECRET_STORE, SECRET_SYNC
from secretloom.runtime.kube import ApiError, KubeClient, Obj
from secretloom.runtime.resources import CLUSTER_SECRET_STORES, SECRET_SYNCS, SERVICE_ACCOUNTS
from secretloom.testing import cluster as local
from tests.e2e import kit

TENANT = local.NONADMIN_USER
RBAC = "/apis/rbac.authorization.k8s.io/v1"
READ = "a SecretSync may only copy what its author can read"
WRITE = "a SecretSync may only write where its author can write"
OWN = "a SecretSync may only own what its author can delete"


def rule(resource: str, *verbs: str, names: tuple[str, ...] = (), group: str = "") -> Obj:
    return {
        "apiGroups": [group],
        "resources": [resource],
        "verbs": list(verbs),
        **({"resourceNames": list(names)} if names else {}),
    }


TENANT_RULES = [
    rule("secretsyncs", "*", group=SECRET_SYNC.group),
    rule("secretstores", "*", group=SECRET_STORE.group),
    rule("secrets", "get", names=("mine",)),
]


def user_subject(name: str = TENANT) -> Obj:
    return {"kind": "User", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


async def allowed(kube: KubeClient, user: str, namespace: str | None, rule: Obj) -> bool:
    """What the real RBAC authorizer answers for the first verb/name of `rule`."""
    resource, _, subresource = rule["resources"][0].partition("/")
    attributes = {
        "group": rule["apiGroups"][0],
        "resource": resource,
        "subresource": subresource,
        "verb": rule["verbs"][0],
        "name": (rule.get("resourceNames") or [""])[0],
        **({"namespace": namespace} if namespace else {}),
    }
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "resourceAttributes": attributes},
    }
    answer = await kube.create("/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    return bool(answer["status"].get("allowed"))


async def grant(
    kube: KubeClient, namespace: str, rules: list[Obj], subject: Obj, user: str = TENANT
) -> None:
    """A Role and its RoleBinding, returned once the authorizer applies them."""
    name = f"grant-{uuid.uuid4().hex[:8]}"
    role: Obj = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "rules": rules}
    binding: Obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [subject],
    }
    for obj, plural in ((role, "roles"), (binding, "rolebindings")):
        obj["metadata"] = {"name": name, "namespace": namespace}
        await kube.create(f"{RBAC}/namespaces/{namespace}/{plural}", obj)
    for each in rules:
        await kit.eventually(functools.partial(allowed, kube, user, namespace, each))


async def tenant(kube: KubeClient, cluster: local.Cluster, namespace: str, *extra: Obj) -> None:
    """The tenant's Role, and the policies in force (the API server refreshes them every second)."""
    await grant(kube, namespace, [*TENANT_RULES, *extra], user_subject())
    probe = secret_sync("probe", "target", {"k": "other"}, createIfMissing=False)
    async with KubeClient.from_kubeconfig(cluster.user_kubeconfig, qps=0) as user:

        async def denied() -> bool:
            try:
                await user.request(
                    "POST", SECRET_SYNCS.path(namespace), params={"dryRun": "All"}, body=probe
                )
            except ApiError as err:
                return "ValidatingAdmissionPolicy" in err.message
            return False

        await kit.eventually(denied)


def secret_sync(name: str, target: str, sources: dict[str, str], **target_opts: Any) -> Obj:
    return {
        "apiVersion": SECRET_SYNC.api_version,
        "kind": SECRET_SYNC.kind,
        "metadata": {"name": name},
        "spec": {
            "target": {"name": target, **target_opts},
            "data": [
                {"key": key, "from": {"secret": secret, "key": "value"}}
                for key, secret in sources.items()
            ],
        },
    }


def vault(auth: Obj, **fields: Any) -> Obj:
    return {"server": "http://vault.example:8200", "path": "secret", "auth": auth, **fields}


def token(secret: str) -> Obj:
    return {"tokenSecretRef": {"name": secret, "key": "token"}}


def secret_store(name: str, provider: Obj, kind: str = "vault") -> Obj:
    return {
        "apiVersion": SECRET_STORE.api_version,
        "kind": SECRET_STORE.kind,
        "metadata": {"name": name},
        "spec": {"provider": {kind: provider}},
    }


def kubectl(cluster: local.Cluster, *args: str) -> str:
    """kubectl as the tenant: "" when the request is admitted, else what kubectl printed."""
    try:
        cluster.kubectl(*args, user=True)
    except local.ControlPlaneError as err:
        return str(err)
    return ""


def create(cluster: local.Cluster, tmp_path: Path, namespace: str, obj: Obj) -> str:
    manifest = tmp_path / f"{obj['metadata']['name']}-{uuid.uuid4().hex[:6]}.yaml"
    manifest.write_text(yaml.safe_dump(obj))
    return kubectl(cluster, "create", "-n", namespace, "-f", str(manifest))


def refusal(verb: str, kind: str, name: str, namespace: str, referrer: str, why: str) -> str:
    return (
        f'user "{TENANT}" may not {verb} {kind} "{name}" in namespace "{namespace}" '
        f"(referenced by {referrer}); {why}"
    )


@asynccontextmanager
async def controller_with_shipped_role(
    kube: KubeClient,
    cluster: local.Cluster,
    namespace: str,
    repo_root: Path,
    tmp_path: Path,
    sealing_namespace: str | None = None,
) -> AsyncIterator[None]:
    """The real controller, in-process, as a ServiceAccount bound to deploy/rbac/role.yaml only
    (and deploy/rbac/sealing.yaml's Roles in `sealing_namespace`, which turns sealing on)."""
    account = "secretloom-controller"
    await kube.create(SERVICE_ACCOUNTS.path(namespace), {"metadata": {"name": account}})
    user = f"system:serviceaccount:{namespace}:{account}"
    role, _ = yaml.safe_load_all((repo_root / "deploy/rbac/role.yaml").read_text())
    subject = {"kind": "ServiceAccount", "name": account, "namespace": namespace}
    await grant(kube, namespace, role["rules"], subject, user)
    if sealing_namespace is not None:
        sealing = yaml.safe_load_all((repo_root / "deploy/rbac/sealing.yaml").read_text())
        for doc in sealing:
            if doc["kind"] == "Role":
                await grant(kube, sealing_namespace, doc["rules"], subject, user)
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    minted = await kube.create(SERVICE_ACCOUNTS.path(namespace, account, "token"), request)
    kubeconfig = tmp_path / "controller.kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "local",
                        "cluster": {
                            "server": cluster.server,
                            "certificate-authority": str(cluster.ca_cert),
                        },
                    }
                ],
                "users": [{"name": account, "user": {"token": minted["status"]["token"]}}],
                "contexts": [{"name": "local", "context": {"cluster": "local", "user": account}}],
                "current-context": "local",
            }
        )
    )
    async with (
        KubeClient.from_kubeconfig(kubeconfig) as client,
        kit.controller(client, namespace, sealing_namespace=sealing_namespace),
    ):
        yield


async def test_a_secretsync_copies_only_what_its_author_can_read(
    kube: KubeClient, cluster: local.Cluster, namespace: str, repo_root: Path, tmp_path: Path
) -> None:
    await tenant(
        kube, cluster, namespace, rule("secrets", "patch", "create", "delete", names=("app",))
    )
    for name, value in (("mine", "tenant-value"), ("other", "someone-elses")):
        await kit.put_secret(kube, namespace, name, {"value": value}, manager="owner")

    stolen = secret_sync("steal", "app", {"password": "other"})
    printed = create(cluster, tmp_path, namespace, stolen)
    assert "Error from server (Forbidden)" in printed
    assert (
        refusal("get", "Secret", "other", namespace, "spec.data[key=password].from.secret", READ)
        in printed
    )
    assert await kit.get_secret(kube, namespace, "app") is None

    # Admitted, and the controller on the shipped Role alone brings it to Ready: its own
    # finalizer and status writes pass the policies.
    own = secret_sync("copy", "app", {"password": "mine"}, creationPolicy="Owner")
    assert create(cluster, tmp_path, namespace, own) == ""
    async with controller_with_shipped_role(kube, cluster, namespace, repo_root, tmp_path):
        ready = await kit.wait_condition(kube, namespace, "copy", "Ready", timeout=15)
    assert ready["metadata"].get("finalizers")
    assert kit.values(await kit.get_secret(kube, namespace, "app")) == {"password": "tenant-value"}


async def test_a_secretsync_writes_only_where_its_author_can_write(
    kube: KubeClient, cluster: local.Cluster, namespace: str, tmp_path: Path
) -> None:
    await tenant(
        kube,
        cluster,
        namespace,
        rule("secrets", "patch", "create", names=("app",)),
        rule("secrets", "patch", names=("existing",)),
    )

    theirs = create(cluster, tmp_path, namespace, secret_sync("a", "theirs", {"k": "mine"}))
    assert refusal("patch", "Secret", "theirs", namespace, "spec.target.name", WRITE) in theirs

    owner = secret_sync("b", "app", {"k": "mine"}, creationPolicy="Owner")
    refused = create(cluster, tmp_path, namespace, owner)
    assert (
        refusal(
            "delete", "Secret", "app", namespace, "spec.target.name with creationPolicy: Owner", OWN
        )
        in refused
    )
    assert create(cluster, tmp_path, namespace, secret_sync("c", "app", {"k": "mine"})) == ""

    # `createIfMissing` defaults to true: writing into a Secret one may only patch needs false.
    missing = create(cluster, tmp_path, namespace, secret_sync("d", "existing", {"k": "mine"}))
    assert (
        refusal(
            "create",
            "Secret",
            "existing",
            namespace,
            "spec.target.name with createIfMissing: true",
            WRITE,
        )
        in missing
    )
    patch_only = secret_sync("e", "existing", {"k": "mine"}, createIfMissing=False)
    assert create(cluster, tmp_path, namespace, patch_only) == ""


async def test_a_secretstore_uses_only_credentials_its_author_can_read(
    kube: KubeClient, cluster: local.Cluster, namespace: str, tmp_path: Path
) -> None:
    await tenant(kube, cluster, namespace)
    why = "a SecretStore may only use credentials its author can use"

    printed = create(cluster, tmp_path, namespace, secret_store("a", vault(token("other"))))
    assert "Error from server (Forbidden)" in printed
    assert (
        refusal(
            "get", "Secret", "other", namespace, "spec.provider.vault.auth.tokenSecretRef.name", why
        )
        in printed
    )

    approle = {"appRole": {"roleId": "r", "secretRef": {"name": "other", "key": "secret-id"}}}
    printed = create(cluster, tmp_path, namespace, secret_store("b", vault(approle)))
    assert (
        refusal(
            "get",
            "Secret",
            "other",
            namespace,
            "spec.provider.vault.auth.appRole.secretRef.name",
            why,
        )
        in printed
    )

    ca = {"type": "ConfigMap", "name": "ca", "key": "ca.crt"}
    tls = vault(token("mine"), server="https://vault.example:8200", caProvider=ca)
    printed = create(cluster, tmp_path, namespace, secret_store("c", tls))
    assert (
        refusal("get", "ConfigMap", "ca", namespace, "spec.provider.vault.caProvider.name", why)
        in printed
    )

    assert create(cluster, tmp_path, namespace, secret_store("d", vault(token("mine")))) == ""


async def test_kubernetes_auth_needs_the_right_to_mint_the_accounts_token(
    kube: KubeClient, cluster: local.Cluster, namespace: str, tmp_path: Path
) -> None:
    await tenant(kube, cluster, namespace)
    auth = {"kubernetes": {"role": "app", "serviceAccountRef": {"name": "vault-auth"}}}
    store = secret_store("k8s", vault(auth))

    printed = create(cluster, tmp_path, namespace, store)
    assert (
        refusal(
            "create serviceaccounts/token for",
            "ServiceAccount",
            "vault-auth",
            namespace,
            "spec.provider.vault.auth.kubernetes.serviceAccountRef.name",
            "a SecretStore may only use credentials its author can use",
        )
        in printed
    )

    mint = rule("serviceaccounts/token", "create", names=("vault-auth",))
    await grant(kube, namespace, [mint], user_subject())
    assert create(cluster, tmp_path, namespace, store) == ""


async def test_aws_stores_use_only_keys_and_accounts_their_author_may_use(
    kube: KubeClient, cluster: local.Cluster, namespace: str, tmp_path: Path
) -> None:
    await tenant(kube, cluster, namespace)
    why = "a SecretStore may only use credentials its author can use"
    keys = {
        "secretRef": {
            "accessKeyIDSecretRef": {"name": "mine", "key": "id"},
            "secretAccessKeySecretRef": {"name": "other", "key": "secret"},
        }
    }
    irsa = {
        "jwt": {
            "roleArn": "arn:aws:iam::123456789012:role/app",
            "serviceAccountRef": {"name": "aws-reader"},
        }
    }
    for kind in ("awsSecretsManager", "awsParameterStore"):
        store = secret_store(f"{kind.lower()}-keys", {"region": "eu-west-1", "auth": keys}, kind)
        printed = create(cluster, tmp_path, namespace, store)
        referrer = f"spec.provider.{kind}.auth.secretRef.secretAccessKeySecretRef.name"
        assert refusal("get", "Secret", "other", namespace, referrer, why) in printed
        assert '"mine"' not in printed  # readable: no refusal for it

        store = secret_store(f"{kind.lower()}-irsa", {"region": "eu-west-1", "auth": irsa}, kind)
        printed = create(cluster, tmp_path, namespace, store)
        referrer = f"spec.provider.{kind}.auth.jwt.serviceAccountRef.name"
        verb = "create serviceaccounts/token for"
        assert refusal(verb, "ServiceAccount", "aws-reader", namespace, referrer, why) in printed

    mint = rule("serviceaccounts/token", "create", names=("aws-reader",))
    await grant(kube, namespace, [mint], user_subject())
    irsa_store = secret_store("irsa", {"region": "eu-west-1", "auth": irsa}, "awsSecretsManager")
    assert create(cluster, tmp_path, namespace, irsa_store) == ""


async def test_an_update_is_checked_when_it_changes_the_spec(
    kube: KubeClient, cluster: local.Cluster, namespace: str, tmp_path: Path
) -> None:
    await tenant(kube, cluster, namespace, rule("secrets", "patch", "create", names=("app",)))
    assert create(cluster, tmp_path, namespace, secret_sync("s", "app", {"k": "mine"})) == ""
    to_other = '[{"op": "replace", "path": "/spec/data/0/from/secret", "value": "other"}]'

    printed = kubectl(
        cluster, "patch", "secretsync", "s", "-n", namespace, "--type=json", "-p", to_other
    )
    assert (
        refusal("get", "Secret", "other", namespace, "spec.data[key=k].from.secret", READ)
        in printed
    )
    assert (await kit.get_sync(kube, namespace, "s"))["spec"]["data"][0]["from"]["secret"] == "mine"
    assert kubectl(cluster, "label", "secretsync", "s", "-n", namespace, "team=a") == ""

    # One the admin wrote reading `other`: the tenant may label it, but any spec change is
    # checked whole, as if the tenant authored it.
    admin_made = secret_sync("admin-made", "app", {"k": "other"})["spec"]
    await kit.apply_sync(kube, namespace, "admin-made", admin_made)
    assert kubectl(cluster, "label", "secretsync", "admin-made", "-n", namespace, "team=a") == ""
    slower = '{"spec": {"refreshInterval": "2h"}}'
    printed = kubectl(
        cluster, "patch", "secretsync", "admin-made", "-n", namespace, "--type=merge", "-p", slower
    )
    assert (
        refusal("get", "Secret", "other", namespace, "spec.data[key=k].from.secret", READ)
        in printed
    )


async def test_an_owner_reference_is_checked_like_a_spec_change(
    kube: KubeClient, cluster: local.Cluster, namespace: str, tmp_path: Path
) -> None:
    """A SealedSecret controls the spec of the SecretSync it owns: naming one's own SealedSecret
    the controller of someone else's SecretSync, with `spec` untouched, would have the
    SealedSecret controller retarget it into a Secret the tenant reads."""
    await tenant(kube, cluster, namespace, rule("secrets", "patch", "create", names=("app",)))
    admin_made = secret_sync("admin-made", "app", {"k": "other"})["spec"]
    await kit.apply_sync(kube, namespace, "admin-made", admin_made)
    reference = {
        "apiVersion": "secretloom.io/v1alpha1",
        "kind": "SealedSecret",
        "name": "admin-made",
        "uid": str(uuid.uuid4()),
        "controller": True,
    }
    adopt = json.dumps({"metadata": {"ownerReferences": [reference]}})
    printed = kubectl(
        cluster, "patch", "secretsync", "admin-made", "-n", namespace, "--type=merge", "-p", adopt
    )
    assert (
        refusal("get", "Secret", "other", namespace, "spec.data[key=k].from.secret", READ)
        in printed
    )
    assert not (await kit.get_sync(kube, namespace, "admin-made"))["metadata"].get(
        "ownerReferences"
    )
    # Its own SecretSync, which it may author whole, the tenant may give an owner.
    assert create(cluster, tmp_path, namespace, secret_sync("own", "app", {"k": "mine"})) == ""
    patched = kubectl(
        cluster, "patch", "secretsync", "own", "-n", namespace, "--type=merge", "-p", adopt
    )
    assert patched == ""


async def test_a_cluster_secret_store_is_checked_in_its_credentials_namespace(
    kube: KubeClient, cluster: local.Cluster, namespace: str, tmp_path: Path
) -> None:
    await tenant(kube, cluster, namespace)
    name = f"css-{uuid.uuid4().hex[:8]}"
    cluster_rule = rule("clustersecretstores", "*", group=CLUSTER_SECRET_STORE.group)
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [cluster_rule],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [user_subject()],
    }
    why = "a ClusterSecretStore may only use credentials its author can use"

    def store(suffix: str, secret: str, credentials_namespace: str) -> Obj:
        return {
            "apiVersion": CLUSTER_SECRET_STORE.api_version,
            "kind": CLUSTER_SECRET_STORE.kind,
            "metadata": {"name": f"{name}-{suffix}"},
            "spec": {
                "provider": {"vault": vault(token(secret))},
                "credentialsNamespace": credentials_namespace,
                "namespaces": [namespace],
            },
        }

    await kube.create(f"{RBAC}/clusterroles", role)
    await kube.create(f"{RBAC}/clusterrolebindings", binding)
    try:
        await kit.eventually(lambda: allowed(kube, TENANT, None, cluster_rule))
        referrer = "spec.provider.vault.auth.tokenSecretRef.name"
        printed = create(cluster, tmp_path, "default", store("other", "other", namespace))
        assert refusal("get", "Secret", "other", namespace, referrer, why) in printed
        # `mine` is readable in the tenant's namespace only, not where the store reads it.
        printed = create(cluster, tmp_path, "default", store("elsewhere", "mine", "default"))
        assert refusal("get", "Secret", "mine", "default", referrer, why) in printed
        assert create(cluster, tmp_path, "default", store("mine", "mine", namespace)) == ""
    finally:
        for suffix in ("other", "elsewhere", "mine"):
            try:
                await kube.delete(CLUSTER_SECRET_STORES.path(None, f"{name}-{suffix}"))
            except ApiError as err:
                if err.status != 404:  # refused at admission, as it should be
                    raise
        await kube.delete(f"{RBAC}/clusterrolebindings/{name}")
        await kube.delete(f"{RBAC}/clusterroles/{name}")


async def test_a_full_secretsync_fits_the_cel_cost_budget(
    kube: KubeClient, cluster: local.Cluster, namespace: str, tmp_path: Path
) -> None:
    # The schema maximum, every entry from its own Secret, each readable by name only:
    # 256 authorizer checks, beyond what one policy may spend on one request.
    names = tuple(f"s-{i:03}" for i in range(256))
    await tenant(
        kube,
        cluster,
        namespace,
        rule("secrets", "get", names=names),
        rule("secrets", "patch", "create", names=("app",)),
    )
    sources = {f"k-{i:03}": name for i, name in enumerate(names)}

    assert create(cluster, tmp_path, namespace, secret_sync("full", "app", sources)) == ""
    last_but = {**sources, "k-200": "other"}
    printed = create(cluster, tmp_path, namespace, secret_sync("one-more", "app", last_but))
    assert (
        refusal("get", "Secret", "other", namespace, "spec.data[key=k-200].from.secret", READ)
        in printed
    )
