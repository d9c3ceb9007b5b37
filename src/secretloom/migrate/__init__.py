"""Conversion from the tools teams already run to secretloom manifests (issue 15).

Pure functions over parsed manifests (dicts in, dicts and findings out): no
I/O, no cluster, so `secretloom convert` runs in CI and every rule is unit
tested. One module per source tool (`kyverno`, `eso`, `vso`); `convert` sorts
the inputs, converts stores first (so an ExternalSecret knows its store's
provider and mount), then everything else, in input order. Bitnami
SealedSecrets are reported as not yet converted: secretloom has no sealing.
Documents of other kinds are listed as skipped (a note), never printed back:
a plain Secret among the inputs would otherwise travel to stdout.
"""

from __future__ import annotations

from collections.abc import Iterable

from secretloom.migrate import eso, kyverno, vso
from secretloom.migrate.model import Conversion, Finding, Obj, Scope, describe

__all__ = ["Conversion", "Finding", "convert"]


def _group(doc: Obj) -> str:
    return str(doc.get("apiVersion", "")).rpartition("/")[0]


def convert(documents: Iterable[Obj]) -> Conversion:
    docs = [d for d in documents if isinstance(d, dict) and d]
    result = Conversion()
    stores: dict[tuple[str, str, str], eso.StoreInfo] = {}
    auths: vso.Index = {}
    connections: vso.Index = {}
    vault_static: list[Obj] = []
    for doc in docs:
        meta = doc.get("metadata") or {}
        kind, group = doc.get("kind"), _group(doc)
        if group == eso.GROUP and kind in eso.STORE_KINDS:
            stores[eso.store_key(str(kind), meta.get("namespace"), meta.get("name", ""))] = (
                eso.store_info(doc)
            )
        elif group == vso.GROUP and kind in ("VaultAuth", "VaultConnection"):
            index = auths if kind == "VaultAuth" else connections
            index[meta.get("namespace") or "default", str(meta.get("name"))] = doc
    for doc in docs:
        kind, group = doc.get("kind"), _group(doc)
        scope = Scope(result, describe(doc))
        if group == eso.GROUP and kind in eso.STORE_KINDS:
            result.extend(eso.convert_store(doc))
        elif group == eso.GROUP and kind == "ExternalSecret":
            result.extend(eso.convert_external_secret(doc, stores))
        elif group == "kyverno.io" and kind in kyverno.KINDS:
            result.extend(kyverno.convert(doc))
        elif group == vso.GROUP and kind == "VaultStaticSecret":
            vault_static.append(doc)
        elif group == vso.GROUP and kind in ("VaultAuth", "VaultConnection"):
            continue  # converted with the VaultStaticSecrets that use them
        elif group == "bitnami.com" and kind == "SealedSecret":
            scope.refuse("", "not yet converted: secretloom has no sealing yet")
        elif group in (eso.GROUP, vso.GROUP, "kyverno.io"):
            scope.refuse("", f"{kind} has no secretloom equivalent")
        else:
            scope.note("", "skipped: not a resource of a tool secretloom converts from")
    result.extend(vso.convert(vault_static, auths, connections))
    return result
