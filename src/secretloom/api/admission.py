"""Admission policies: authoring an object never grants what its author lacks.

secretloom reads, mints and writes with its own identity. Without a check at
admission, whoever may create a SecretSync or a store borrows that identity
(a confused deputy, the Kyverno GHSA-8p9x class): a SecretSync copies any
Secret of its namespace into one its author can read, a store's
`tokenSecretRef` sends any Secret to its author's server, Kubernetes auth mints
a token for any ServiceAccount, and `creationPolicy: Owner` lets the garbage
collector delete a Secret its author could not. These ValidatingAdmissionPolicies
ask the API server's own authorizer (the CEL `authorizer` variable, no webhook
to run) whether the requesting user may do each of those things themselves:

* SecretSync: `get` every source Secret, `patch` the target, `create` it when
  `createIfMissing`, `delete` it when `creationPolicy: Owner`, `patch` every
  workload `spec.rollout.restart` names (issue 14: a restart is a patch of it);
* SealedSecret: the same target checks as a SecretSync (it writes through one);
  Bitnami's SealedSecret (served on request): `patch` and `create` the Secret
  of its own name, and `delete` it unless its template asks for `patch`;
* SecretStore: `get` every Secret and ConfigMap it references and `create` the
  `serviceaccounts/token` of its Kubernetes auth ServiceAccount (Vault) or its
  IRSA ServiceAccount (AWS, `auth.jwt`), all in its namespace; the Secrets of
  AWS static keys likewise; ClusterSecretStore: the same in
  `spec.credentialsNamespace`.

Trade-offs:

* Only CREATE, and UPDATEs that change `spec` or `metadata.ownerReferences`, are
  checked (`matchConditions`): the controller's finalizer patches and label edits
  pass untouched, and such an UPDATE is checked whole, as if the object were
  created by that user. Owner references count because they decide who acts for
  the object: a SecretSync's controlling SealedSecret rewrites its spec.
* An authorizer check costs 350,000 in Kubernetes' CEL cost model and a policy
  may spend 10,000,000 per request (k8s.io/apiserver pkg/cel/library/cost.go,
  pkg/apis/cel/config.go), so one policy can check about 28 names while
  `spec.data` holds up to 256 entries. Source checks are therefore split over
  several policies, each owning a fixed range of entry indexes ("slots"); a
  name repeated in later entries is checked once, at its first entry. Each
  failed check is its own validation, so the message names the entry.
* Every field path, default and enum value is read from the CRD schemas the
  models generate (`crd.openapi_schema`): a renamed field breaks generation,
  and the drift gate, instead of leaving a policy that checks nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from secretloom.api import crd, sealedsecret, secretsync, stores
from secretloom.api.base import Model

Manifest = dict[str, Any]
API_VERSION = "admissionregistration.k8s.io/v1"
POLICY = "ValidatingAdmissionPolicy"
BINDING = "ValidatingAdmissionPolicyBinding"

# Kubernetes' CEL cost model: what one policy may spend on one request, and the
# fixed price of one authorizer check. Two checks' worth is left for the list
# traversals and the messages.
RUNTIME_COST_BUDGET = 10_000_000
AUTHORIZER_CHECK_COST = 350_000
SLOTS_PER_POLICY = RUNTIME_COST_BUDGET // AUTHORIZER_CHECK_COST - 2

# CREATE, and an UPDATE only when it changes what the object asks for (`spec`) or who acts
# for it (`ownerReferences`): the SealedSecret controller writes the spec of the SecretSync it
# controls, so an owner reference added by an edit that leaves `spec` alone would hand it, and
# the SealedSecret's author, a SecretSync someone else authored.
_OWNERS = "(has({0}.metadata.ownerReferences) ? {0}.metadata.ownerReferences : [])"
CHECKED_UPDATE = (
    "request.operation != 'UPDATE' || object.spec != oldObject.spec"
    f" || {_OWNERS.format('object')} != {_OWNERS.format('oldObject')}"
)
USER = "request.userInfo.username"
NAMESPACE = "request.namespace"


class SchemaPath:
    """Paths into one CRD's `spec` schema; a path the models lack is an error."""

    def __init__(self, model: type[Model]) -> None:
        self._schema = crd.openapi_schema(model)

    def node(self, *fields: str) -> dict[str, Any]:
        node = self._schema
        for name in fields:
            properties = node.get("properties") or node.get("items", {}).get("properties", {})
            if name not in properties:
                raise KeyError(f"spec.{'.'.join(fields)}: the CRD schema has no field {name!r}")
            node = properties[name]
        return node

    def wire(self, *fields: str) -> str:
        """The path as a user writes it, e.g. `spec.target.name`."""
        self.node(*fields)
        return ".".join(("spec", *fields))

    def cel(self, *fields: str) -> str:
        return f"object.{self.wire(*fields)}"

    def present(self, *fields: str) -> str:
        """CEL: every optional field on the way to `fields` is set."""
        guards, parent = [], self._schema
        for depth, name in enumerate(fields, start=1):
            if name not in parent.get("required", ()):
                guards.append(f"has({self.cel(*fields[:depth])})")
            parent = self.node(*fields[:depth])
        return " && ".join(guards) or "true"

    def value(self, *fields: str) -> str:
        """CEL: the field's value, or its schema default when it is absent."""
        default = self.node(*fields)["default"]
        literal = str(default).lower() if isinstance(default, bool) else f"'{default}'"
        return f"({self.present(*fields)} ? {self.cel(*fields)} : {literal})"


@dataclass(frozen=True)
class Check:
    """May the requesting user `verb` the object `name` in `namespace` (both CEL)?"""

    verb: str
    resource: str
    kind: str
    name: str
    namespace: str
    referrer: str  # the referencing field, as message text; `' + expr + '` splices in CEL
    why: str  # the rule the author broke, ending the message
    when: str = ""  # CEL: the reference is there (empty: always)
    subresource: str = ""
    group: str = ""

    def validation(self) -> Manifest:
        request = f"authorizer.group('{self.group}').resource('{self.resource}')"
        action = self.verb
        if self.subresource:
            request += f".subresource('{self.subresource}')"
            action += f" {self.resource}/{self.subresource} for"
        request += f".namespace({self.namespace}).name({self.name}).check('{self.verb}')"
        message = (
            f"'user \"' + {USER} + '\" may not {action} {self.kind} \"' + {self.name}"
            f" + '\" in namespace \"' + {self.namespace} + '\" (referenced by {self.referrer}); "
            f"{self.why}'"
        )
        allowed = f"{request}.allowed()"
        return {
            "expression": f"!({self.when}) || {allowed}" if self.when else allowed,
            "messageExpression": message,
            "reason": "Forbidden",
        }


def _policy(
    name: str,
    resource: crd.CustomResource,
    checks: list[Check],
    variables: tuple[Manifest, ...] = (),
) -> list[Manifest]:
    """A ValidatingAdmissionPolicy over `resource` and the binding that puts it in force."""
    spec: Manifest = {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": [resource.group],
                    "apiVersions": [resource.version],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": [resource.plural],
                }
            ]
        },
        "matchConditions": [{"name": "spec-or-owners-changed", "expression": CHECKED_UPDATE}],
        **({"variables": list(variables)} if variables else {}),
        "validations": [check.validation() for check in checks],
    }
    binding = {"policyName": name, "validationActions": ["Deny"]}
    return [
        {"apiVersion": API_VERSION, "kind": kind, "metadata": _metadata(name), "spec": body}
        for kind, body in ((POLICY, spec), (BINDING, binding))
    ]


def _metadata(name: str) -> Manifest:
    return {"name": name, "labels": {"app.kubernetes.io/part-of": "secretloom"}}


def _name(resource: crd.CustomResource, part: str = "") -> str:
    singular = resource.kind.lower()
    return f"{singular}-{part}.{resource.group}" if part else f"{singular}.{resource.group}"


# SecretSync ---------------------------------------------------------------------------------

READ = "a SecretSync may only copy what its author can read"
WRITE = "a SecretSync may only write where its author can write"
OWN = "a SecretSync may only own what its author can delete"
# Entry i's source Secret name, "" for a store entry; evaluated once per policy and request.
SOURCES = "variables.sources"


def _target_checks(spec: SchemaPath) -> list[Check]:
    if "Owner" not in spec.node("target", "creationPolicy")["enum"]:
        raise KeyError("spec.target.creationPolicy: the CRD schema has no Owner policy")
    field = spec.wire("target", "name")

    def check(verb: str, referrer: str, why: str, when: str = "") -> Check:
        return Check(
            verb=verb,
            resource="secrets",
            kind="Secret",
            name=spec.cel("target", "name"),
            namespace=NAMESPACE,
            referrer=referrer,
            why=why,
            when=when,
        )

    owner = f"{spec.value('target', 'creationPolicy')} == 'Owner'"
    return [
        check("patch", field, WRITE),
        check(
            "create",
            f"{field} with createIfMissing: true",
            WRITE,
            spec.value("target", "createIfMissing"),
        ),
        check("delete", f"{field} with creationPolicy: Owner", OWN, owner),
    ]


def _source_check(spec: SchemaPath, index: int) -> Check:
    name = f"{SOURCES}[{index}]"
    first = f"{SOURCES}.indexOf({name}) == {index}"  # a repeated name is checked once
    key = f"{spec.cel('data')}[{index}].key"
    return Check(
        verb="get",
        resource="secrets",
        kind="Secret",
        name=name,
        namespace=NAMESPACE,
        referrer=f"spec.data[key=' + {key} + '].from.secret",
        why=READ,
        when=f"size({SOURCES}) > {index} && {name} != '' && {first}",
    )


def _sources_variable(spec: SchemaPath) -> Manifest:
    entries = f"{spec.cel('data')}.map(e, has(e.from.secret) ? e.from.secret : '')"
    return {"name": "sources", "expression": f"{spec.present('data')} ? {entries} : []"}


RESTART = "a SecretSync may only restart workloads its author can patch"
# The kinds `spec.rollout.restart[].kind` allows, and where each lives (group, resource).
WORKLOADS = {
    "Deployment": ("apps", "deployments"),
    "StatefulSet": ("apps", "statefulsets"),
    "DaemonSet": ("apps", "daemonsets"),
    "Rollout": ("argoproj.io", "rollouts"),
}


def _rollout_checks(spec: SchemaPath) -> list[Check]:
    """`patch` on each workload `spec.rollout.restart` names: one check per slot and kind."""
    if set(spec.node("rollout", "restart", "kind")["enum"]) != set(WORKLOADS):
        raise KeyError("spec.rollout.restart[].kind: its enum no longer matches WORKLOADS")
    slots = spec.node("rollout", "restart")["maxItems"]
    targets = spec.cel("rollout", "restart")
    return [
        Check(
            verb="patch",
            resource=plural,
            kind=kind,
            name=f"{targets}[{index}].name",
            namespace=NAMESPACE,
            referrer=f"spec.rollout.restart[{index}]",
            why=RESTART,
            when=(
                f"{spec.present('rollout', 'restart')} && size({targets}) > {index}"
                f" && {targets}[{index}].kind == '{kind}'"
            ),
            group=group,
        )
        for index in range(slots)
        for kind, (group, plural) in WORKLOADS.items()
    ]


def _secret_sync() -> list[Manifest]:
    resource, spec = crd.SECRET_SYNC, SchemaPath(secretsync.SecretSyncSpec)
    for fields in (("data", "key"), ("data", "from", "secret")):  # spelled out in the CEL
        spec.node(*fields)
    manifests = _policy(_name(resource, "target"), resource, _target_checks(spec))
    manifests += _policy(_name(resource, "rollout"), resource, _rollout_checks(spec))
    entries = spec.node("data")["maxItems"]
    for shard in range(math.ceil(entries / SLOTS_PER_POLICY)):
        first = shard * SLOTS_PER_POLICY
        slots = range(first, min(first + SLOTS_PER_POLICY, entries))
        manifests += _policy(
            _name(resource, f"sources-{shard}"),
            resource,
            [_source_check(spec, i) for i in slots],
            (_sources_variable(spec),),
        )
    return manifests


def _sealed_secret() -> list[Manifest]:
    # It writes through a SecretSync the controller makes: its author needs what
    # that SecretSync's author would (it has no source Secrets to read).
    resource = crd.SEALED_SECRET
    checks = _target_checks(SchemaPath(sealedsecret.SealedSecretSpec))
    return _policy(_name(resource, "target"), resource, checks)


# Bitnami's kind, served only with --serve-bitnami-sealed-secrets; the policy matches
# nothing until Bitnami's CRD is installed.
BITNAMI_SEALED_SECRET = crd.CustomResource(
    group="bitnami.com",
    version="v1alpha1",
    kind=sealedsecret.KIND,
    plural=sealedsecret.PLURAL,
    description="Bitnami's SealedSecret (its CRD is Bitnami's; only the policy is ours).",
    spec=sealedsecret.SealedSecretSpec,
    status=sealedsecret.SealedSecretStatus,
)
BITNAMI_WRITE = "a SealedSecret may only write where its author can write"
BITNAMI_OWN = "a SealedSecret may only own what its author can delete"
_BITNAMI_ANNOTATIONS = "object.spec.template.metadata.annotations"
_BITNAMI_PATCH = (
    f"has(object.spec.template) && has(object.spec.template.metadata) && "
    f"has({_BITNAMI_ANNOTATIONS}) && "
    f"'sealedsecrets.bitnami.com/patch' in {_BITNAMI_ANNOTATIONS} && "
    f"{_BITNAMI_ANNOTATIONS}['sealedsecrets.bitnami.com/patch'] == 'true'"
)


def _bitnami_sealed_secret() -> list[Manifest]:
    # Its target is the Secret of its own name, created when missing and owned
    # whole unless the template asks for the patch annotation (translate.bitnami_spec).
    def check(verb: str, why: str, when: str = "") -> Check:
        return Check(
            verb=verb,
            resource="secrets",
            kind="Secret",
            name="object.metadata.name",
            namespace=NAMESPACE,
            referrer="metadata.name",
            why=why,
            when=when,
        )

    checks = [
        check("patch", BITNAMI_WRITE),
        check("create", BITNAMI_WRITE),
        check("delete", BITNAMI_OWN, f"!({_BITNAMI_PATCH})"),
    ]
    resource = BITNAMI_SEALED_SECRET
    return _policy(f"sealedsecret-target.{resource.group}", resource, checks)


# SecretStore, ClusterSecretStore ------------------------------------------------------------

# The AWS provider blocks (issue 16) and the Secrets their static keys are read from.
AWS_PROVIDERS = ("awsSecretsManager", "awsParameterStore")
AWS_KEY_REFS = ("accessKeyIDSecretRef", "secretAccessKeySecretRef", "sessionTokenSecretRef")
# What the CA bundle of each `caProvider.type` is read from.
CA_RESOURCES = {"Secret": "secrets", "ConfigMap": "configmaps"}


def _store_checks(spec: SchemaPath, namespace: str, kind: str) -> list[Check]:
    why = f"a {kind} may only use credentials its author can use"
    provider = ("provider", "vault")
    if set(spec.node("provider")["properties"]) != {"vault", *AWS_PROVIDERS}:
        raise KeyError("spec.provider: a new provider needs its references checked here")
    ca_type = (*provider, "caProvider", "type")
    if set(spec.node(*ca_type)["enum"]) != set(CA_RESOURCES):
        raise KeyError(f"{spec.wire(*ca_type)}: its enum no longer matches CA_RESOURCES")

    def check(
        verb: str,
        resource: str,
        target: str,
        fields: tuple[str, ...],
        when: str = "",
        subresource: str = "",
    ) -> Check:
        present = spec.present(*fields)
        return Check(
            verb=verb,
            resource=resource,
            kind=target,
            name=spec.cel(*fields),
            namespace=namespace,
            referrer=spec.wire(*fields),
            why=why,
            when=f"{present} && {when}" if when else present,
            subresource=subresource,
        )

    ca_name = (*provider, "caProvider", "name")
    aws = [
        c
        for block in AWS_PROVIDERS
        for c in (
            *(
                check(
                    "get",
                    "secrets",
                    "Secret",
                    ("provider", block, "auth", "secretRef", ref, "name"),
                )
                for ref in AWS_KEY_REFS
            ),
            check(
                "create",
                "serviceaccounts",
                "ServiceAccount",
                ("provider", block, "auth", "jwt", "serviceAccountRef", "name"),
                subresource="token",
            ),
        )
    ]
    return [
        *aws,
        check("get", "secrets", "Secret", (*provider, "auth", "tokenSecretRef", "name")),
        check("get", "secrets", "Secret", (*provider, "auth", "appRole", "secretRef", "name")),
        *(
            check("get", resource, ca, ca_name, f"{spec.cel(*ca_type)} == '{ca}'")
            for ca, resource in CA_RESOURCES.items()
        ),
        check(
            "create",
            "serviceaccounts",
            "ServiceAccount",
            (*provider, "auth", "kubernetes", "serviceAccountRef", "name"),
            subresource="token",
        ),
    ]


def _secret_store() -> list[Manifest]:
    resource = crd.SECRET_STORE
    checks = _store_checks(SchemaPath(stores.SecretStoreSpec), NAMESPACE, resource.kind)
    return _policy(_name(resource), resource, checks)


def _cluster_secret_store() -> list[Manifest]:
    resource = crd.CLUSTER_SECRET_STORE
    spec = SchemaPath(stores.ClusterSecretStoreSpec)
    checks = _store_checks(spec, spec.cel("credentialsNamespace"), resource.kind)
    return _policy(_name(resource), resource, checks)


# What is installed ---------------------------------------------------------------------------


def files() -> dict[str, list[Manifest]]:
    """The CRD's name -> the policies guarding that kind, each followed by its binding."""
    return {
        crd.SECRET_SYNC.name: _secret_sync(),
        crd.SECRET_STORE.name: _secret_store(),
        crd.CLUSTER_SECRET_STORE.name: _cluster_secret_store(),
        crd.SEALED_SECRET.name: _sealed_secret(),
        BITNAMI_SEALED_SECRET.name: _bitnami_sealed_secret(),
    }


def bundle() -> list[Manifest]:
    """Everything an install applies, in order: the CRDs, the policies, their bindings.

    A binding comes last so that no policy is enforced before the API server
    has processed (type-checked) it.
    """
    guards = [m for documents in files().values() for m in documents]
    return [
        *(crd.definition(r) for r in crd.RESOURCES),
        *(m for m in guards if m["kind"] == POLICY),
        *(m for m in guards if m["kind"] == BINDING),
    ]
