"""Kyverno mutate-existing policies of the seed's shape -> one SecretSync per source Secret.

The shape (seed 000, the policy that started secretloom): a rule matches a
Secret by name (CREATE/UPDATE), `mutate.targets` names a Secret, and a
`patchStrategicMerge` copies `data.<key>: '{{ request.object.data."<key>" }}'`
into it. Rules with the same source and target, and several keys per rule,
fold into one SecretSync named after the source Secret, so each source's keys
keep one owner, as each Kyverno rule's keys did.

What Kyverno does, made explicit in the output:
* it never creates the target (mutate-existing needs it to exist: the seed
  creates an empty shell in an earlier sync wave) -> `createIfMissing: false`;
* it never removes a key it patched, when the policy or a source goes away
  -> `deletionPolicy: Retain` (a missing source keeps the last value, which is
  secretloom's rule anyway);
* `mutateExistingOnPolicyUpdate: true` (act when the policy is applied) is what
  a level-triggered controller always does.

Anything else in a rule (preconditions, context, exclude, selectors, wildcard
names, other patch fields, JSON patches, foreach, literal values or JMESPath
beyond a plain key reference) is reported, never guessed. A SecretSync reads
and writes in its own namespace, so a rule copying across namespaces is
reported too. Hand-written: Kyverno ships no Python library, and the subset
converted is small and fixed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from secretloom.migrate.model import Conversion, Obj, Scope, describe, extra, manifest

KINDS = ("Policy", "ClusterPolicy")
_KEY_REF = re.compile(
    r"^\{\{\s*request\.object\.data\.(?:\"(?P<quoted>[^\"]+)\"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
    r"\s*\}\}$"
)
_SAME_NAMESPACE = re.compile(r"^\{\{\s*request\.(?:object\.metadata\.)?namespace\s*\}\}$")
# Admission-time and reporting settings: no bearing on what a mutate-existing rule writes.
_SPEC_FIELDS = {
    "rules", "background", "validationFailureAction", "admission", "emitWarning",
    "failurePolicy", "webhookTimeoutSeconds", "schemaValidation", "useServerSideApply",
    "mutateExistingOnPolicyUpdate",
}  # fmt: skip
_RULE_FIELDS = {"name", "match", "mutate", "skipBackgroundRequests"}
_MUTATE_FIELDS = {"targets", "patchStrategicMerge", "mutateExistingOnPolicyUpdate"}
_FILTER_FIELDS = {"kinds", "names", "name", "namespaces", "operations"}
_TARGET_FIELDS = {"apiVersion", "kind", "name", "namespace"}


@dataclass
class _Sync:
    namespace: str
    source: str
    target: str
    keys: dict[str, str]  # target key -> source key


def convert(doc: Obj) -> Conversion:
    result = Conversion()
    scope = Scope(result, describe(doc))
    cluster_wide = doc.get("kind") == "ClusterPolicy"
    meta = doc.get("metadata") or {}
    spec = doc.get("spec") or {}
    for field in extra(spec, _SPEC_FIELDS):
        scope.refuse(f"spec.{field}", "no secretloom equivalent")
    syncs: dict[tuple[str, str, str], _Sync] = {}
    written: dict[tuple[str, str, str], str] = {}  # (ns, target, key) -> source
    for index, rule in enumerate(spec.get("rules") or []):
        path = f"spec.rules[{index}]"
        for sync in _rule(scope, path, rule, meta.get("namespace"), cluster_wide=cluster_wide):
            merged = syncs.setdefault(
                (sync.namespace, sync.source, sync.target),
                _Sync(sync.namespace, sync.source, sync.target, {}),
            )
            for key, source_key in sync.keys.items():
                owner = written.setdefault((sync.namespace, sync.target, key), sync.source)
                if owner != sync.source:
                    scope.refuse(
                        f"{path}.mutate.patchStrategicMerge.data.{key}",
                        f"key {key!r} of Secret {sync.target!r} is also copied from Secret "
                        f"{owner!r}; in secretloom each key has one owner",
                    )
                    continue
                merged.keys[key] = source_key
    targets_per_source: dict[tuple[str, str], int] = {}
    for namespace, source, _ in syncs:
        targets_per_source[namespace, source] = targets_per_source.get((namespace, source), 0) + 1
    for (namespace, source, target), sync in syncs.items():
        if not sync.keys:
            continue
        name = source if targets_per_source[namespace, source] == 1 else f"{source}-to-{target}"
        body = {
            "target": {
                "name": target,
                "creationPolicy": "Merge",
                "createIfMissing": False,
                "deletionPolicy": "Retain",
            },
            "data": [
                {"key": key, "from": {"secret": source, "key": source_key}}
                for key, source_key in sync.keys.items()
            ],
        }
        scope.emit(manifest("SecretSync", namespace, name[:253], body))
    if syncs:
        scope.note(
            "",
            "createIfMissing: false and deletionPolicy: Retain keep Kyverno's behaviour (it "
            "patches an existing Secret only and never removes keys); with secretloom the "
            "placeholder Secret is optional (set createIfMissing: true)",
        )
    return result


def _rule(
    scope: Scope, path: str, rule: Obj, policy_namespace: str | None, *, cluster_wide: bool
) -> Iterable[_Sync]:
    name = rule.get("name", "?")
    mutate = rule.get("mutate")
    if not isinstance(mutate, dict) or not mutate.get("targets"):
        kind = next((k for k in ("validate", "generate", "verifyImages") if k in rule), "mutate")
        scope.refuse(path, f"rule {name!r} is a {kind} rule, not a mutate-existing rule")
        return []
    for field in extra(rule, _RULE_FIELDS):
        scope.refuse(f"{path}.{field}", f"rule {name!r}: no secretloom equivalent")
    for field in extra(mutate, _MUTATE_FIELDS):
        scope.refuse(f"{path}.mutate.{field}", "only patchStrategicMerge of data keys converts")
    keys = _patch_keys(scope, f"{path}.mutate.patchStrategicMerge", mutate)
    sources = _sources(
        scope, f"{path}.match", rule.get("match") or {}, policy_namespace, cluster_wide=cluster_wide
    )
    targets = _targets(scope, f"{path}.mutate.targets", mutate["targets"])
    found = []
    for namespace, source in sources:
        for target_namespace, target in targets:
            if target_namespace not in (None, namespace):
                scope.refuse(
                    f"{path}.mutate.targets",
                    f"copies from namespace {namespace!r} into {target_namespace!r}; a "
                    "SecretSync reads and writes in its own namespace only",
                )
                continue
            if keys:
                found.append(_Sync(namespace, source, target, dict(keys)))
    return found


def _patch_keys(scope: Scope, path: str, mutate: Obj) -> dict[str, str]:
    patch = mutate.get("patchStrategicMerge")
    if not isinstance(patch, dict):
        scope.refuse(path, "missing: nothing to copy")
        return {}
    for field in extra(patch, {"data"}):
        scope.refuse(f"{path}.{field}", "only data keys are copied")
    keys: dict[str, str] = {}
    for key, value in (patch.get("data") or {}).items():
        match = _KEY_REF.match(value) if isinstance(value, str) else None
        if match is None:
            # Never echo the value: it may be a literal secret.
            scope.refuse(
                f"{path}.data.{key}",
                'not a plain {{ request.object.data."<key>" }} reference (a literal or an '
                "expression)",
            )
            continue
        keys[str(key)] = match["quoted"] or match["bare"]
    return keys


def _sources(
    scope: Scope, path: str, match: Obj, policy_namespace: str | None, *, cluster_wide: bool
) -> list[tuple[str, str]]:
    filters: list[Any]
    if "resources" in match:
        filters, where = [match], path
    elif len(match.get("all") or []) == 1 and "any" not in match:
        filters, where = match["all"], f"{path}.all"
    else:
        filters, where = match.get("any") or [], f"{path}.any"
        if "all" in match:
            scope.refuse(f"{path}.all", "only match.any (or a single match.all) converts")
    found: list[tuple[str, str]] = []
    for index, entry in enumerate(filters):
        here = f"{where}[{index}]"
        for field in extra(entry, {"resources"}):
            scope.refuse(f"{here}.{field}", "matching by who made the request does not convert")
        resources = entry.get("resources") or {}
        for field in extra(resources, _FILTER_FIELDS):
            scope.refuse(f"{here}.resources.{field}", "only matching by Secret name converts")
        kinds = resources.get("kinds") or []
        if any(k not in ("Secret", "v1/Secret") for k in kinds) or not kinds:
            scope.refuse(f"{here}.resources.kinds", "the source must be a Secret")
            continue
        names = list(resources.get("names") or []) + (
            [resources["name"]] if "name" in resources else []
        )
        if not names:
            scope.refuse(f"{here}.resources", "no Secret names: every Secret would be a source")
        namespaces = _namespaces(scope, here, resources, policy_namespace, cluster_wide)
        for name in names:
            if any(c in str(name) for c in "*?{"):
                scope.refuse(f"{here}.resources.names", f"{name!r} is a pattern, not a name")
                continue
            found += [(namespace, str(name)) for namespace in namespaces]
    return found


def _namespaces(
    scope: Scope, path: str, resources: Obj, policy_namespace: str | None, cluster_wide: bool
) -> list[str]:
    listed = [str(n) for n in resources.get("namespaces") or []]
    if not cluster_wide:
        namespace = policy_namespace or "default"
        if any(n != namespace for n in listed):
            scope.refuse(f"{path}.resources.namespaces", "a Policy matches its own namespace only")
        return [namespace]
    if not listed:
        scope.refuse(
            f"{path}.resources.namespaces",
            "a ClusterPolicy without namespaces matches every namespace; list them",
        )
    patterns = [n for n in listed if any(c in n for c in "*?")]
    if patterns:
        scope.refuse(f"{path}.resources.namespaces", f"patterns {patterns} do not convert")
    return [n for n in listed if n not in patterns]


def _targets(scope: Scope, path: str, targets: list[Obj]) -> list[tuple[str | None, str]]:
    found: list[tuple[str | None, str]] = []
    for index, target in enumerate(targets):
        here = f"{path}[{index}]"
        for field in extra(target, _TARGET_FIELDS):
            scope.refuse(f"{here}.{field}", "only a target Secret by name converts")
        if target.get("kind") != "Secret" or target.get("apiVersion", "v1") != "v1":
            scope.refuse(here, "the target must be a v1 Secret")
            continue
        name = str(target.get("name") or "")
        if not name or any(c in name for c in "*?{"):
            scope.refuse(f"{here}.name", "the target must be one Secret named literally")
            continue
        namespace = target.get("namespace")
        if namespace is not None and _SAME_NAMESPACE.match(str(namespace)):
            namespace = None
        found.append((None if namespace is None else str(namespace), name))
    return found
