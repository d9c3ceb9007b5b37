"""An offline reconcile: the controller's own planning code over objects held in memory.

`secretloom test` (issue 15, like `kyverno test`) runs SecretSyncs against
Secrets and recorded store values with no cluster and no network. What it
exercises is the controller's decision code itself: `reads.assemble` orders
every key's result, `plan.plan` decides the apply, `plan.conflict_retry`
answers a conflict, `report.status` derives the status and conditions. Only
the I/O around them is replaced:

* Secrets are read from a dict, through `providers.kubernetes.key_of` (the
  provider's own decoding), ServiceAccount-token Secrets refused as the
  controller refuses them;
* store reads come from recorded values (path -> property -> value), a
  missing path or property being `NotFound` (SourceMissing) as a provider's;
  a store without recordings is `StoreNotFound`; ClusterSecretStore scoping
  is not simulated (the admission and store tests cover it on a cluster);
* dynamic credentials, templates and sealed values (issues 13, 14) are not
  modelled: `not_simulated` names them, and `secretloom test` refuses such a
  SecretSync in one line rather than report a target it never computed;
* the target is written by a small model of server-side apply, hand-written
  because no library models the API server's field ownership: per data key,
  its managers; applying a different value to a key another manager owns is
  a conflict unless forced (which takes the key whole); a key the applier
  owned and no longer lists is removed unless another manager also owns it.

SecretSyncs are reconciled in input order (their seniority, as creation time
on a cluster), round after round until a round writes nothing, at most
`MAX_ROUNDS`: the steady state a cluster would reach.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from secretloom.api import secretsync as api
from secretloom.controllers.secretsync import plan as planning
from secretloom.controllers.secretsync import report
from secretloom.controllers.secretsync.naming import field_manager, version_hash
from secretloom.controllers.secretsync.reads import (
    DataFromRead,
    StoreReads,
    assemble,
    describe,
    foreign,
    store_indexes,
)
from secretloom.providers.kubernetes import key_bytes
from secretloom.providers.protocol import NotFound, ProviderError
from secretloom.runtime.kube import Obj

MAX_ROUNDS = 10
Recorded = Mapping[str, Mapping[str, str]]  # path -> property -> value (text)


@dataclass
class Secret:
    """A Secret as the simulation keeps it: data (base64) and each key's managers."""

    namespace: str
    name: str
    data: dict[str, str] = field(default_factory=dict)
    managers: dict[str, list[str]] = field(default_factory=dict)
    type: str = "Opaque"
    owner_references: list[Obj] = field(default_factory=list)
    version: int = 1

    def obj(self) -> Obj:
        meta: Obj = {"name": self.name, "namespace": self.namespace}
        if self.owner_references:
            meta["ownerReferences"] = self.owner_references
        return {"metadata": meta, "type": self.type, "data": dict(self.data)}


@dataclass(frozen=True)
class Sync:
    namespace: str
    name: str
    spec: api.SecretSyncSpec

    @property
    def manager(self) -> str:
        return field_manager(self.namespace, self.name)


@dataclass
class World:
    secrets: dict[tuple[str, str], Secret] = field(default_factory=dict)
    syncs: list[Sync] = field(default_factory=list)
    # (kind, namespace or "" for a ClusterSecretStore, name) -> recorded values
    stores: dict[tuple[str, str, str], Recorded] = field(default_factory=dict)
    statuses: dict[tuple[str, str], api.SecretSyncStatus] = field(default_factory=dict)


class _Conflict(Exception):
    def __init__(self, owners: dict[str, str]) -> None:
        super().__init__("conflict")
        self.owners = owners


def apply(world: World, namespace: str, body: Obj, manager: str, *, force: bool) -> bool:
    """Server-side apply of `body` as `manager`; True if anything changed."""
    name = body["metadata"]["name"]
    secret = world.secrets.get((namespace, name))
    created = secret is None
    if secret is None:
        secret = Secret(namespace, name, type=body.get("type", "Opaque"))
    data: Mapping[str, str] = body.get("data") or {}
    conflicts = {
        key: other
        for key, value in data.items()
        if secret.data.get(key) != value
        for other in secret.managers.get(key, [])
        if other != manager
    }
    if conflicts and not force:
        raise _Conflict(conflicts)
    before = (dict(secret.data), {k: list(v) for k, v in secret.managers.items()})
    for key in [k for k, owners in secret.managers.items() if manager in owners]:
        if key not in data:
            secret.managers[key].remove(manager)
            if not secret.managers[key]:
                del secret.managers[key]
                secret.data.pop(key, None)
    for key, value in data.items():
        if force and key in conflicts:
            secret.managers[key] = [manager]
        elif manager not in secret.managers.setdefault(key, []):
            secret.managers[key].append(manager)
        secret.data[key] = value
    known = {r["uid"] for r in secret.owner_references}
    added = [r for r in body["metadata"].get("ownerReferences") or [] if r["uid"] not in known]
    secret.owner_references += added
    changed = created or before != (secret.data, secret.managers) or bool(added)
    if changed:
        secret.version += 1
        world.secrets[namespace, name] = secret
    return changed


def not_simulated(spec: api.SecretSyncSpec) -> list[str]:
    """The parts of `spec` this simulation does not model (refused, never guessed)."""
    parts = [name for name, used in (("spec.dynamic", spec.dynamic),
                                     ("spec.templates", spec.templates)) if used]  # fmt: skip
    if any(entry.from_.sealed is not None for entry in spec.data):
        parts.append("from.sealed")
    return parts


def _b64(text: bytes) -> str:
    return base64.b64encode(text).decode()


def _kubernetes(world: World, sync: Sync) -> dict[int, planning.Resolved]:
    results: dict[int, planning.Resolved] = {}
    stores = set(store_indexes(sync.spec, sync.namespace))
    for index, entry in enumerate(sync.spec.data):
        if index in stores:
            continue
        source, label = entry.from_, describe(entry.from_)
        if foreign(source, sync.namespace):
            results[index] = planning.Resolved(
                entry.key, label, reason="InvalidReference",
                message=f"entry {entry.key!r}: from.namespace must be the SecretSync's own",
            )  # fmt: skip
            continue
        secret = world.secrets.get((sync.namespace, source.secret or ""))
        obj = secret.obj() if secret else None
        if obj is not None and obj["type"] == planning.SERVICE_ACCOUNT_TOKEN:
            results[index] = planning.Resolved(
                entry.key, label, reason="InvalidReference",
                message=f"entry {entry.key!r}: secretloom never copies ServiceAccount tokens",
            )  # fmt: skip
            continue
        try:
            raw = key_bytes(obj, "Secret", source.secret or "", source.key or "")
        except ProviderError as err:
            reason = "SourceMissing" if isinstance(err, NotFound) else "ProviderError"
            results[index] = planning.Resolved(entry.key, label, reason=reason, message=str(err))
            continue
        assert secret is not None
        version = version_hash(secret.namespace, secret.name, str(secret.version))
        results[index] = planning.Resolved(entry.key, label, value=_b64(raw), version=version)
    return results


def _recorded(world: World, sync: Sync, ref: api.StoreRef) -> Recorded | None:
    namespace = "" if ref.kind == "ClusterSecretStore" else sync.namespace
    return world.stores.get((ref.kind, namespace, ref.name))


def _value(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


def _store_reads(world: World, sync: Sync) -> StoreReads:
    entries: dict[int, planning.Resolved] = {}
    for index in store_indexes(sync.spec, sync.namespace):
        entry = sync.spec.data[index]
        source, label = entry.from_, describe(entry.from_)
        assert source.store is not None
        recorded = _recorded(world, sync, source.store)
        prefix = f"entry {entry.key!r}: "
        if recorded is None:
            entries[index] = planning.Resolved(
                entry.key, label, reason="StoreNotFound",
                message=f"{prefix}{source.store.describe()} has no recorded values",
            )  # fmt: skip
            continue
        value = (recorded.get(source.path or "") or {}).get(source.property or "")
        if value is None:
            entries[index] = planning.Resolved(
                entry.key, label, reason="SourceMissing",
                message=f"{prefix}{source.path}#{source.property} not recorded",
            )  # fmt: skip
            continue
        raw = value.encode()
        entries[index] = planning.Resolved(entry.key, label, value=_b64(raw), version=_value(raw))
    reads: list[DataFromRead] = []
    for wanted in sync.spec.data_from:
        label = wanted.describe()
        recorded = _recorded(world, sync, wanted.store)
        properties = (recorded or {}).get(wanted.path)
        if properties is None:
            reason = "StoreNotFound" if recorded is None else "SourceMissing"
            failure = planning.Resolved("", label, reason=reason, message=f"{label}: not recorded")
            state = "Error" if recorded is None else "SourceMissing"
            status = api.DataFromStatus(source=label, state=state, message=failure.message)
            reads.append(DataFromRead(status, failure=failure))
            continue
        keys = tuple(
            planning.Resolved(
                wanted.prefix + name, label, value=_b64(v.encode()), version=_value(v.encode())
            )
            for name, v in sorted(properties.items())
        )
        reads.append(DataFromRead(api.DataFromStatus(source=label, state="Synced"), keys=keys))
    return StoreReads(entries, tuple(reads))


def _claim(index: int, sync: Sync) -> planning.Claim:
    rank = planning.Rank(f"{index:08d}", sync.namespace, sync.name)
    return planning.Claim(rank, force=sync.spec.target.force)


def reconcile(world: World, index: int, sync: Sync) -> bool:
    """One reconcile of `sync`; True if it wrote the target."""
    before = world.statuses.get((sync.namespace, sync.name))
    previous = {k.key: k for k in before.keys} if before else {}
    target = world.secrets.get((sync.namespace, sync.spec.target.name))
    resolved, data_from = assemble(
        sync.spec, _kubernetes(world, sync), _store_reads(world, sync), previous
    )
    observed = planning.Observed(
        sync.namespace, sync.name, f"uid-{sync.namespace}-{sync.name}", 1, sync.spec,
        resolved, target.obj() if target else None, previous,
    )  # fmt: skip
    planned = planning.plan(observed)
    outcome = report.Outcome("unchanged")
    wrote = False
    if planned.apply is not None:
        try:
            wrote = apply(world, sync.namespace, planned.apply, sync.manager, force=False)
            outcome = report.Outcome("written")
        except _Conflict as conflict:
            holders = {s.manager: _claim(i, s) for i, s in enumerate(world.syncs)}
            retry = planning.conflict_retry(
                observed, planned, conflict.owners, ours=_claim(index, sync),
                holders={m: holders.get(m) for m in conflict.owners.values()},
                force_foreign=False,
            )  # fmt: skip
            yielded = retry.resolution.yielded
            if retry.body is not None:
                wrote = apply(world, sync.namespace, retry.body, sync.manager, force=retry.force)
            outcome = report.Outcome("conflict" if yielded else "written", conflicting=yielded)
    world.statuses[sync.namespace, sync.name] = report.status(
        observed=observed, planned=planned, outcome=outcome, data_from=data_from,
        reads=None, reads_stores=sync.spec.uses_stores(), contested=False,
    )  # fmt: skip
    return wrote


def run(world: World) -> int:
    """Reconcile every SecretSync until a round writes nothing; the number of rounds."""
    for rounds in range(1, MAX_ROUNDS + 1):
        wrote = [reconcile(world, i, s) for i, s in enumerate(world.syncs)]
        if not any(wrote):
            return rounds
    return MAX_ROUNDS
