"""External Secrets -> secretloom: ExternalSecret (v1, v1beta1) and its stores.

Mapping (ESO documentation: "Lifecycle", "Advanced templating", the Vault and
Kubernetes providers):

* `ExternalSecret` -> a SecretSync of the same name. `data[]` entries become
  `data` entries (`remoteRef.key` the path, `remoteRef.property` the
  property, `remoteRef.version` a pinned KV v2 version); `dataFrom[].extract`
  becomes `dataFrom`. `refreshInterval` carries over (ESO's default, 1h, is
  secretloom's); `refreshPolicy: OnChange` is `"0"`.
* `creationPolicy` (ESO: "Lifecycle"): Owner (the default: create, set an
  ownerReference, garbage-collected with the ExternalSecret, an existing
  Secret adopted) -> Owner with `adopt: true`; Merge (the Secret must exist,
  only ESO's keys are written, they stay when the ExternalSecret goes) ->
  Merge, `createIfMissing: false`, `deletionPolicy: Retain`; Orphan (created
  without an owner, left behind) -> Merge, created, Retain; CreateOrMerge ->
  Merge, created; None (never written) does not convert.
* ESO's `deletionPolicy` is about the provider's secret disappearing: Retain
  (the default) keeps the value, which is what secretloom does with a missing
  source; Delete and Merge (remove on provider deletion) do not convert.
* `target.template`: `type`, and `data` keys that only rename a key
  (`{{ .name }}`, `{{ index . "name" }}`, optionally `| toString`) convert;
  anything computed does not. With `mergePolicy: Replace` (the default) only
  the template's keys reach the Secret, as in ESO.
* A store's `vault` provider converts field by field (`api/vault.py` follows
  ESO's shape); a SecretStore's references must stay in its namespace and a
  ClusterSecretStore's must all name one namespace (`credentialsNamespace`).
  ESO's `conditions` become `namespaces`/`namespaceSelector`; none means every
  namespace (`namespaceSelector: {}`).
* The `kubernetes` provider reads Secrets of `remoteNamespace`. Where that is
  the ExternalSecret's own namespace the entries become plain `from.secret`
  references (no store needed); another namespace does not convert: a
  SecretSync reads Secrets of its own namespace only (ESO CVE-2026-42875).
* An ExternalSecret whose store is not among the inputs is assumed to use a
  Vault store converted under the same name (a note says so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from secretloom.api.secretsync import (
    MAX_REFRESH_SECONDS,
    MIN_REFRESH_SECONDS,
    duration_seconds,
)
from secretloom.migrate.model import Conversion, Obj, Scope, describe, extra, manifest

GROUP = "external-secrets.io"
STORE_KINDS = ("SecretStore", "ClusterSecretStore")
_RENAME = re.compile(
    r"^\{\{-?\s*(?:\.(?P<dot>[A-Za-z_][A-Za-z0-9_]*)|index\s+\.\s+\"(?P<index>[^\"]+)\")"
    r"(?:\s*\|\s*toString)?\s*-?\}\}$"
)
_ES_SPEC = {"secretStoreRef", "target", "data", "dataFrom", "refreshInterval", "refreshPolicy"}
_TARGET = {"name", "creationPolicy", "deletionPolicy", "template"}
_REMOTE_REF = {
    "key",
    "property",
    "version",
    "conversionStrategy",
    "decodingStrategy",
    "metadataPolicy",
}
_DEFAULTS = {"conversionStrategy": "Default", "decodingStrategy": "None", "metadataPolicy": "None"}


@dataclass(frozen=True, slots=True)
class StoreInfo:
    provider: str
    mount: str = ""
    remote_namespace: str = ""


def store_key(kind: str, namespace: str | None, name: str) -> tuple[str, str, str]:
    return (kind, "" if kind == "ClusterSecretStore" else namespace or "default", name)


def store_info(doc: Obj) -> StoreInfo:
    provider = (doc.get("spec") or {}).get("provider") or {}
    name = next(iter(provider), "")
    body = provider.get(name) or {}
    if name == "vault":
        return StoreInfo("vault", mount=str(body.get("path") or "").strip("/"))
    if name == "kubernetes":
        return StoreInfo(
            "kubernetes", remote_namespace=str(body.get("remoteNamespace") or "default")
        )
    return StoreInfo(name)


def refresh(scope: Scope, path: str, value: Any) -> str | None:
    """An ESO/VSO Go duration as a secretloom refreshInterval, or None (reported)."""
    text = str(value)
    try:
        seconds = duration_seconds(text)
    except ValueError:
        scope.refuse(path, f"duration {text!r} uses units secretloom does not take (h, m, s, ms)")
        return None
    if seconds == 0:
        return "0"
    if not MIN_REFRESH_SECONDS <= seconds <= MAX_REFRESH_SECONDS:
        scope.refuse(path, f"duration {text!r} is outside 1s..8760h")
        return None
    return text


# ---- stores ---------------------------------------------------------------------------------


def convert_store(doc: Obj) -> Conversion:
    result = Conversion()
    scope = Scope(result, describe(doc))
    meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
    cluster = doc["kind"] == "ClusterSecretStore"
    info = store_info(doc)
    if info.provider == "kubernetes":
        scope.note(
            "spec.provider.kubernetes",
            "no store emitted: ExternalSecrets using it become from.secret references "
            f"when they live in namespace {info.remote_namespace!r}",
        )
        return result
    if info.provider != "vault":
        scope.refuse(f"spec.provider.{info.provider}", "secretloom has only the vault provider")
        return result
    for field in extra(spec, {"provider", "conditions", "refreshInterval", "controller"}):
        scope.refuse(f"spec.{field}", "no secretloom equivalent")
    if spec.get("controller"):
        scope.note("spec.controller", "secretloom has no controller classes; ignored")
    refs: list[tuple[str, str | None]] = []  # (field path, namespace named)
    vault = _vault(scope, "spec.provider.vault", spec["provider"]["vault"], refs)
    namespace = meta.get("namespace") or "default"
    if cluster:
        named = {ns for _, ns in refs if ns}
        unnamed = [p for p, ns in refs if not ns]
        if len(named) != 1 or unnamed:
            scope.refuse(
                "spec.provider.vault.auth",
                "a ClusterSecretStore's credential references must all name one namespace "
                "(secretloom's credentialsNamespace)",
            )
            return result
        body: Obj = {"provider": {"vault": vault}, "credentialsNamespace": named.pop()}
        body.update(_conditions(scope, spec.get("conditions")))
        scope.emit(manifest("ClusterSecretStore", None, meta["name"], body))
    else:
        for path, ns in refs:
            if ns not in (None, namespace):
                scope.refuse(path, "a SecretStore reads credentials from its own namespace only")
                return result
        scope.emit(manifest("SecretStore", namespace, meta["name"], {"provider": {"vault": vault}}))
    return result


def _vault(scope: Scope, path: str, vault: Obj, refs: list[tuple[str, str | None]]) -> Obj:
    known = {"server", "path", "version", "namespace", "caProvider", "auth"}
    for field in extra(vault, known):
        scope.refuse(f"{path}.{field}", "no secretloom equivalent")
    out: Obj = {
        "server": vault.get("server"),
        "path": vault.get("path"),
        "version": vault.get("version", "v2"),
    }
    if not vault.get("path"):
        scope.refuse(f"{path}.path", "secretloom needs the KV mount path")
    if vault.get("namespace"):
        out["namespace"] = vault["namespace"]
    ca = vault.get("caProvider")
    if ca:
        out["caProvider"] = {k: ca[k] for k in ("type", "name", "key") if k in ca}
        refs.append((f"{path}.caProvider.namespace", ca.get("namespace")))
    auth = vault.get("auth") or {}
    out["auth"] = {}
    for method in sorted(auth):
        here = f"{path}.auth.{method}"
        body = auth[method] or {}
        if method == "tokenSecretRef":
            out["auth"]["tokenSecretRef"] = {"name": body.get("name"), "key": body.get("key")}
            refs.append((f"{here}.namespace", body.get("namespace")))
        elif method == "appRole" and "roleId" in body and "secretRef" in body:
            ref = body["secretRef"]
            out["auth"]["appRole"] = {
                "path": body.get("path", "approle"),
                "roleId": body["roleId"],
                "secretRef": {"name": ref.get("name"), "key": ref.get("key")},
            }
            refs.append((f"{here}.secretRef.namespace", ref.get("namespace")))
        elif method == "kubernetes" and "serviceAccountRef" in body:
            account = body["serviceAccountRef"]
            entry: Obj = {"name": account.get("name")}
            if account.get("audiences"):
                entry["audiences"] = account["audiences"]
            else:
                scope.note(
                    f"{here}.serviceAccountRef.audiences",
                    "secretloom requests audience 'vault'; the Vault role must accept it",
                )
            out["auth"]["kubernetes"] = {
                "mountPath": body.get("mountPath", "kubernetes"),
                "role": body.get("role"),
                "serviceAccountRef": entry,
            }
            refs.append((f"{here}.serviceAccountRef.namespace", account.get("namespace")))
        else:
            scope.refuse(
                here,
                "secretloom logs in with tokenSecretRef, appRole (roleId + "
                "secretRef) or kubernetes (serviceAccountRef) only",
            )
    return out


def _conditions(scope: Scope, conditions: Any) -> Obj:
    if not conditions:
        scope.note("spec.conditions", "none: every namespace may use it (namespaceSelector: {})")
        return {"namespaceSelector": {}}
    namespaces: list[str] = []
    selector: Obj | None = None
    for index, condition in enumerate(conditions):
        here = f"spec.conditions[{index}]"
        namespaces += condition.get("namespaces") or []
        if condition.get("namespaceRegexes"):
            scope.refuse(f"{here}.namespaceRegexes", "namespace patterns do not convert")
        if "namespaceSelector" in condition:
            if selector is not None:
                scope.refuse(f"{here}.namespaceSelector", "secretloom takes one selector")
            selector = condition["namespaceSelector"]
    out: Obj = {"namespaces": namespaces} if namespaces else {}
    if selector is not None:
        out["namespaceSelector"] = selector
    return out


# ---- ExternalSecret ---------------------------------------------------------------------------


def convert_external_secret(doc: Obj, stores: dict[tuple[str, str, str], StoreInfo]) -> Conversion:
    result = Conversion()
    scope = Scope(result, describe(doc))
    meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
    namespace = meta.get("namespace") or "default"
    for field in extra(spec, _ES_SPEC):
        scope.refuse(f"spec.{field}", "no secretloom equivalent")
    default_ref = spec.get("secretStoreRef") or {}
    resolver = _Stores(scope, namespace, stores)
    data: list[Obj] = []
    by_name: dict[str, Obj] = {}
    for index, entry in enumerate(spec.get("data") or []):
        converted = _data_entry(scope, f"spec.data[{index}]", entry, default_ref, resolver)
        if converted is not None:
            data.append(converted)
            by_name[converted["key"]] = converted
    data_from: list[Obj] = []
    for index, entry in enumerate(spec.get("dataFrom") or []):
        converted = _data_from(scope, f"spec.dataFrom[{index}]", entry, default_ref, resolver)
        if converted is not None:
            data_from.append(converted)
    target_spec = spec.get("target") or {}
    target = _target(scope, target_spec, meta["name"])
    template = target_spec.get("template")
    if template:
        data, data_from = _template(scope, template, data, data_from, by_name, target)
    body: Obj = {"target": target}
    if data:
        body["data"] = data
    if data_from:
        body["dataFrom"] = data_from
    interval = _interval(scope, spec)
    if interval is not None:
        body["refreshInterval"] = interval
    if not data and not data_from:
        scope.refuse("spec", "nothing left to sync")
        return result
    if target is not None:
        scope.emit(manifest("SecretSync", namespace, meta["name"], body))
    return result


def _interval(scope: Scope, spec: Obj) -> str | None:
    policy = spec.get("refreshPolicy", "Periodic")
    if policy == "OnChange":
        return "0"
    if policy != "Periodic":
        scope.refuse("spec.refreshPolicy", f"{policy} has no secretloom equivalent")
        return None
    if "refreshInterval" not in spec:
        return None
    interval = refresh(scope, "spec.refreshInterval", spec["refreshInterval"])
    if interval == "0":
        scope.note(
            "spec.refreshInterval",
            '"0": ESO syncs once (CreatedOnce); secretloom also reads again when the spec changes',
        )
    return interval


def _target(scope: Scope, target: Obj, default_name: str) -> Obj | None:
    for field in extra(target, _TARGET):
        scope.refuse(f"spec.target.{field}", "no secretloom equivalent")
    name = target.get("name") or default_name
    policy = target.get("creationPolicy", "Owner")
    deletion = target.get("deletionPolicy", "Retain")
    if deletion != "Retain":
        scope.refuse(
            "spec.target.deletionPolicy",
            f"{deletion}: secretloom keeps the last value when the provider's secret is gone",
        )
    if policy == "Owner":
        scope.note(
            "spec.target.creationPolicy", "Owner: adopt: true, as ESO takes over an existing Secret"
        )
        return {"name": name, "creationPolicy": "Owner", "adopt": True, "deletionPolicy": "Delete"}
    if policy == "Merge":
        return {
            "name": name,
            "creationPolicy": "Merge",
            "createIfMissing": False,
            "deletionPolicy": "Retain",
        }
    if policy == "Orphan":
        scope.note(
            "spec.target.creationPolicy",
            "Orphan: Merge + Retain; secretloom owns its keys, not the whole Secret",
        )
        return {
            "name": name,
            "creationPolicy": "Merge",
            "createIfMissing": True,
            "deletionPolicy": "Retain",
        }
    if policy == "CreateOrMerge":
        return {
            "name": name,
            "creationPolicy": "Merge",
            "createIfMissing": True,
            "deletionPolicy": "Retain",
        }
    scope.refuse("spec.target.creationPolicy", f"{policy}: secretloom always writes its target")
    return None


class _Stores:
    def __init__(
        self, scope: Scope, namespace: str, known: dict[tuple[str, str, str], StoreInfo]
    ) -> None:
        self.scope, self.namespace, self.known = scope, namespace, known

    def resolve(self, path: str, ref: Obj) -> tuple[Obj, StoreInfo] | None:
        kind = ref.get("kind", "SecretStore")
        name = ref.get("name")
        if kind not in ("SecretStore", "ClusterSecretStore") or not name:
            self.scope.refuse(path, f"a {kind} reference does not convert (generators, ...)")
            return None
        info = self.known.get(store_key(kind, self.namespace, name))
        if info is None:
            self.scope.note(
                path,
                f"{kind} {name!r} not among the inputs; assumed a Vault store "
                "converted under the same name",
            )
            info = StoreInfo("vault")
        if info.provider not in ("vault", "kubernetes"):
            self.scope.refuse(path, f"provider {info.provider!r} is not supported")
            return None
        return {"name": name, "kind": kind}, info


def _remote(scope: Scope, path: str, remote: Obj) -> bool:
    fine = True
    for field in extra(remote, _REMOTE_REF):
        scope.refuse(f"{path}.{field}", "no secretloom equivalent")
        fine = False
    for field, default in _DEFAULTS.items():
        if remote.get(field, default) != default:
            scope.refuse(f"{path}.{field}", f"only {default} converts (values are copied as is)")
            fine = False
    return fine


def _path(info: StoreInfo, key: str) -> str:
    key = key.strip("/")
    if info.mount and key.startswith(info.mount + "/"):
        key = key[len(info.mount) + 1 :]  # ESO accepts the key with or without the mount
    return key


def _data_entry(
    scope: Scope, path: str, entry: Obj, default_ref: Obj, stores: _Stores
) -> Obj | None:
    remote = entry.get("remoteRef") or {}
    source_ref = (entry.get("sourceRef") or {}).get("storeRef") or default_ref
    if "generatorRef" in (entry.get("sourceRef") or {}):
        scope.refuse(f"{path}.sourceRef.generatorRef", "generators do not convert")
        return None
    fine = _remote(scope, f"{path}.remoteRef", remote)
    found = stores.resolve(
        f"{path}.sourceRef" if entry.get("sourceRef") else "spec.secretStoreRef", source_ref
    )
    if found is None or not fine:
        return None
    store, info = found
    key = entry.get("secretKey")
    if not remote.get("property"):
        scope.refuse(
            f"{path}.remoteRef.property",
            "missing: ESO writes the whole secret as JSON; secretloom copies properties",
        )
        return None
    if info.provider == "kubernetes":
        if info.remote_namespace != stores.namespace:
            scope.refuse(
                path,
                f"reads a Secret of namespace {info.remote_namespace!r}; a "
                "SecretSync reads Secrets of its own namespace only",
            )
            return None
        if remote.get("version"):
            scope.refuse(f"{path}.remoteRef.version", "Secrets have no versions")
        return {"key": key, "from": {"secret": remote.get("key"), "key": remote["property"]}}
    source: Obj = {
        "store": store,
        "path": _path(info, str(remote.get("key", ""))),
        "property": remote["property"],
    }
    if remote.get("version"):
        version = str(remote["version"])
        if version.isdigit():
            source["version"] = int(version)
        else:
            scope.refuse(f"{path}.remoteRef.version", "only a numeric KV v2 version converts")
    return {"key": key, "from": source}


def _data_from(
    scope: Scope, path: str, entry: Obj, default_ref: Obj, stores: _Stores
) -> Obj | None:
    for field in extra(entry, {"extract", "sourceRef"}):
        scope.refuse(f"{path}.{field}", "only dataFrom.extract converts")
    extract = entry.get("extract")
    if not extract:
        return None
    if "generatorRef" in (entry.get("sourceRef") or {}):
        scope.refuse(f"{path}.sourceRef.generatorRef", "generators do not convert")
        return None
    found = stores.resolve(
        f"{path}.sourceRef", (entry.get("sourceRef") or {}).get("storeRef") or default_ref
    )
    if found is None or not _remote(scope, f"{path}.extract", extract):
        return None
    store, info = found
    if info.provider == "kubernetes":
        scope.refuse(path, "copying a whole Secret does not convert: list its keys in data")
        return None
    if extract.get("property"):
        scope.refuse(f"{path}.extract.property", "extracting a nested JSON object does not convert")
        return None
    out: Obj = {"store": store, "path": _path(info, str(extract.get("key", "")))}
    if str(extract.get("version", "")).isdigit():
        out["version"] = int(extract["version"])
    return out


def _template(
    scope: Scope,
    template: Obj,
    data: list[Obj],
    data_from: list[Obj],
    by_name: dict[str, Obj],
    target: Obj | None,
) -> tuple[list[Obj], list[Obj]]:
    known = {"engineVersion", "type", "data", "mergePolicy"}
    for field in extra(template, known):
        scope.refuse(f"spec.target.template.{field}", "no secretloom equivalent")
    if template.get("type") and target is not None:
        target["type"] = template["type"]
    if not template.get("data"):
        return data, data_from
    renamed: list[Obj] = []
    for key, text in template["data"].items():
        match = _RENAME.match(text) if isinstance(text, str) else None
        name = match and (match["dot"] or match["index"])
        if not name or name not in by_name:
            # Never echo the template: it may hold a literal secret.
            scope.refuse(
                f"spec.target.template.data.{key}",
                "computed by a template; only a plain {{ .key }} of a data entry converts",
            )
            continue
        renamed.append({**by_name[name], "key": key})
    if template.get("mergePolicy", "Replace") == "Merge":
        taken = {e["key"] for e in renamed}
        return renamed + [e for e in data if e["key"] not in taken], data_from
    if data_from:
        scope.refuse(
            "spec.dataFrom",
            "with a Replace template only the template's keys are "
            "written; the extracted keys feed templates that do not convert",
        )
    return renamed, []
