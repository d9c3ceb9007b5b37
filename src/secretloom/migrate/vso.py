"""Vault Secrets Operator -> secretloom: VaultStaticSecret (+ VaultAuth, VaultConnection).

VSO copies every key of one KV path into a destination Secret it manages
whole; secretloom's `dataFrom` copies every property of one store path, under
its own field manager. So (VSO documentation, "Vault static secrets" and the
API reference, secrets.hashicorp.com/v1beta1):

* a `VaultStaticSecret` -> a SecretSync of the same name with one `dataFrom`
  entry (`path`, `version`) and `refreshAfter` as `refreshInterval` (none:
  `"0"`, VSO does not poll without it);
* its `VaultAuth` (kubernetes or appRole) and that auth's `VaultConnection`
  (address, CA Secret's `ca.crt`) -> one SecretStore per (auth, mount, KV
  version) in the VaultStaticSecret's namespace, shared by every
  VaultStaticSecret using them;
* `destination.create: true` -> `creationPolicy: Owner` (VSO sets an
  ownerReference; `overwrite` is `adopt`); `create: false` (the default: the
  Secret must exist) -> Merge, `createIfMissing: false`, Retain.

VSO also writes `_raw` (the whole response as JSON) unless
`transformation.excludeRaw`; secretloom writes properties only, so a
VaultStaticSecret without `excludeRaw: true` is reported. The operator's
default VaultAuth/VaultConnection (an empty reference) live in the operator's
namespace and are not in the inputs: reported, as is an auth in another
namespace (a SecretStore's credentials are read from its own namespace).
"""

from __future__ import annotations

import re

from secretloom.migrate.eso import refresh
from secretloom.migrate.model import Conversion, Obj, Scope, describe, extra, manifest

GROUP = "secrets.hashicorp.com"
_VSS_SPEC = {
    "vaultAuthRef",
    "namespace",
    "mount",
    "type",
    "path",
    "version",
    "refreshAfter",
    "hmacSecretData",
    "destination",
}
_DESTINATION = {"name", "create", "overwrite", "type", "transformation"}
_AUTH_SPEC = {
    "vaultConnectionRef",
    "namespace",
    "method",
    "mount",
    "kubernetes",
    "appRole",
    "allowedNamespaces",
}
_CONNECTION_SPEC = {"address", "caCertSecretRef"}
_INVALID = re.compile(r"[^a-z0-9-]+")

Index = dict[tuple[str, str], Obj]  # (namespace, name) -> VaultAuth or VaultConnection


def convert(secrets: list[Obj], auths: Index, connections: Index) -> Conversion:
    result = Conversion()
    emitted: set[tuple[str, str]] = set()
    for doc in secrets:
        scope = Scope(result, describe(doc))
        meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
        namespace = meta.get("namespace") or "default"
        for field in extra(spec, _VSS_SPEC):
            scope.refuse(f"spec.{field}", "no secretloom equivalent")
        if spec.get("hmacSecretData", True):
            scope.note("spec.hmacSecretData", "secretloom records version hashes, never values")
        store = _store(scope, doc, namespace, auths, connections)
        target = _destination(scope, spec.get("destination") or {})
        if store is None or target is None:
            continue
        if (namespace, store["metadata"]["name"]) not in emitted and scope.emit(store):
            emitted.add((namespace, store["metadata"]["name"]))
        entry: Obj = {
            "store": {"name": store["metadata"]["name"]},
            "path": str(spec.get("path", "")).strip("/"),
        }
        if spec.get("version"):
            entry["version"] = int(spec["version"])
        body: Obj = {"target": target, "dataFrom": [entry]}
        if "refreshAfter" in spec:
            interval = refresh(scope, "spec.refreshAfter", spec["refreshAfter"])
            if interval is not None:
                body["refreshInterval"] = interval
        else:
            body["refreshInterval"] = "0"
            scope.note("spec.refreshAfter", 'unset: refreshInterval "0" (read on change only)')
        scope.emit(manifest("SecretSync", namespace, meta["name"], body))
    return result


def _destination(scope: Scope, destination: Obj) -> Obj | None:
    for field in extra(destination, _DESTINATION):
        scope.refuse(f"spec.destination.{field}", "no secretloom equivalent")
    transformation = destination.get("transformation") or {}
    for field in extra(transformation, {"excludeRaw"}):
        scope.refuse(f"spec.destination.transformation.{field}", "templates do not convert")
    if not transformation.get("excludeRaw"):
        scope.refuse(
            "spec.destination.transformation.excludeRaw",
            "VSO also writes _raw (the whole response as JSON); secretloom writes properties "
            "only (set excludeRaw: true if nothing reads _raw)",
        )
    name = destination.get("name")
    if not name:
        scope.refuse("spec.destination.name", "missing")
        return None
    target: Obj = {"name": name}
    if destination.get("type"):
        target["type"] = destination["type"]
    if destination.get("create"):
        target.update(creationPolicy="Owner", deletionPolicy="Delete")
        if destination.get("overwrite"):
            target["adopt"] = True
        return target
    scope.note(
        "spec.destination.create",
        "false: VSO replaces the Secret's data; secretloom writes only its keys beside the others",
    )
    target.update(creationPolicy="Merge", createIfMissing=False, deletionPolicy="Retain")
    return target


def _ref(value: object, namespace: str) -> tuple[str, str] | None:
    text = str(value or "")
    if not text:
        return None
    ns, _, name = text.rpartition("/")
    return (ns or namespace, name)


def _store(scope: Scope, doc: Obj, namespace: str, auths: Index, connections: Index) -> Obj | None:
    spec = doc.get("spec") or {}
    ref = _ref(spec.get("vaultAuthRef"), namespace)
    if ref is None:
        scope.refuse(
            "spec.vaultAuthRef", "empty: the operator's default VaultAuth is not in the inputs"
        )
        return None
    if ref[0] != namespace:
        scope.refuse(
            "spec.vaultAuthRef",
            "a VaultAuth of another namespace: a SecretStore reads "
            "its credentials from its own namespace",
        )
        return None
    auth = auths.get(ref)
    if auth is None:
        scope.refuse("spec.vaultAuthRef", f"VaultAuth {ref[0]}/{ref[1]} is not in the inputs")
        return None
    auth_spec = auth.get("spec") or {}
    auth_scope = Scope(scope.result, describe(auth))
    for field in extra(auth_spec, _AUTH_SPEC):
        auth_scope.refuse(f"spec.{field}", "no secretloom equivalent")
    connection_ref = _ref(auth_spec.get("vaultConnectionRef"), namespace)
    connection = connections.get(connection_ref) if connection_ref else None
    if connection is None:
        auth_scope.refuse(
            "spec.vaultConnectionRef",
            "its VaultConnection is not in the inputs "
            "(an empty reference is the operator's default)",
        )
        return None
    connection_spec = connection.get("spec") or {}
    for field in extra(connection_spec, _CONNECTION_SPEC):
        Scope(scope.result, describe(connection)).refuse(
            f"spec.{field}", "no secretloom equivalent"
        )
    login = _login(auth_scope, auth_spec)
    if login is None:
        return None
    kv = spec.get("type", "kv-v2")
    if kv not in ("kv-v1", "kv-v2"):
        scope.refuse("spec.type", f"{kv!r}: only kv-v1 and kv-v2 convert")
        return None
    mount = str(spec.get("mount") or "").strip("/")
    vault: Obj = {
        "server": connection_spec.get("address"),
        "path": mount,
        "version": "v2" if kv == "kv-v2" else "v1",
        "auth": login,
    }
    vault_namespace = spec.get("namespace") or auth_spec.get("namespace")
    if vault_namespace:
        vault["namespace"] = vault_namespace
    if connection_spec.get("caCertSecretRef"):
        vault["caProvider"] = {
            "type": "Secret",
            "name": connection_spec["caCertSecretRef"],
            "key": "ca.crt",
        }
    name = _INVALID.sub("-", f"{ref[1]}-{mount}-{vault['version']}".lower()).strip("-")
    return manifest("SecretStore", namespace, name[:253], {"provider": {"vault": vault}})


def _login(scope: Scope, spec: Obj) -> Obj | None:
    method = spec.get("method")
    mount = spec.get("mount") or ("approle" if method == "appRole" else "kubernetes")
    if method == "kubernetes":
        body = spec.get("kubernetes") or {}
        for field in sorted(
            set(body) - {"role", "serviceAccount", "audiences", "tokenExpirationSeconds"}
        ):
            scope.refuse(f"spec.kubernetes.{field}", "no secretloom equivalent")
        account: Obj = {"name": body.get("serviceAccount")}
        if body.get("audiences"):
            account["audiences"] = body["audiences"]
        else:
            scope.note(
                "spec.kubernetes.audiences",
                "secretloom requests audience 'vault'; the Vault role must accept it",
            )
        return {
            "kubernetes": {
                "mountPath": mount,
                "role": body.get("role"),
                "serviceAccountRef": account,
            }
        }
    if method == "appRole":
        body = spec.get("appRole") or {}
        return {
            "appRole": {
                "path": mount,
                "roleId": body.get("roleId"),
                "secretRef": {"name": body.get("secretRef"), "key": "id"},
            }
        }
    scope.refuse("spec.method", f"{method!r}: secretloom logs in with kubernetes or appRole")
    return None
