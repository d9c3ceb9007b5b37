"""What a SecretSync's store entries returned, as pure data: remembered, resumed, assembled.

`StoreReads` is one poll's result (per `spec.data` index, plus one
`DataFromRead` per dataFrom entry); the reconciler keeps it in the
SecretSync's memory between polls. `resume` rebuilds it from the target and
the status after a restart (see `refresh`); `carry` fits the last reads to the
current spec while a poll for it runs in the background, every entry it has
no read for being `Pending`; and `assemble` turns it, with the Kubernetes
entries, into the ordered per-key results the plan takes. No I/O here, so
every rule is unit-tested without a cluster or a provider.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from secretloom.api import secretsync as api
from secretloom.controllers.secretsync.plan import PENDING, Resolved
from secretloom.runtime.kube import Obj


def describe(source: api.Source) -> str:
    if source.sealed is not None:
        return f"sealed/{source.sealed.scope}"
    if source.secret is not None:
        return f"secret/{source.secret}#{source.key}"
    store = source.store.describe() if source.store else "secretstore/?"
    pinned = source.version_stage or source.version_id  # AWS pins; a Vault version is not shown
    at = f"@{pinned}" if pinned else ""
    prop = "" if source.property is None else f"#{source.property}"
    return f"{store}:{source.path}{at}{prop}"


@dataclass(frozen=True, slots=True)
class DataFromRead:
    """One dataFrom entry's last read: its keys, or the failure its earlier keys inherit.

    `status` is None only for an entry never read yet (a Pending failure).
    """

    status: api.DataFromStatus | None
    keys: tuple[Resolved, ...] = ()
    failure: Resolved | None = None


@dataclass(frozen=True, slots=True)
class StoreReads:
    """What one poll of a SecretSync's stores returned; `entries` by index in spec.data."""

    entries: Mapping[int, Resolved]
    data_from: tuple[DataFromRead, ...] = ()

    @property
    def provider_failed(self) -> bool:
        return any(r.reason == "ProviderError" for r in self.entries.values()) or any(
            d.status is not None and d.status.state == "ProviderError" for d in self.data_from
        )


NO_READS = StoreReads({})


def foreign(source: api.Source, namespace: str) -> bool:
    return bool(source.namespace) and source.namespace != namespace


def store_indexes(spec: api.SecretSyncSpec, namespace: str) -> list[int]:
    """Indexes in spec.data of the entries read from stores (a foreign one is refused instead)."""
    return [
        i
        for i, e in enumerate(spec.data)
        if e.from_.store is not None and not foreign(e.from_, namespace)
    ]


def carry(
    reads: StoreReads | None,
    spec: api.SecretSyncSpec,
    namespace: str,
    data_from: Sequence[api.DataFromStatus],
) -> StoreReads:
    """The last reads fitted to `spec`, for planning while a poll for it runs.

    An entry keeps its last result when that was read for the same key from
    the same source; a dataFrom entry when it read the same path. Everything
    else is Pending: never blanked, never removed, only not read yet. A
    Pending dataFrom entry shows its last status (`data_from`, from the
    SecretSync's status) while it waits, if it had one.
    """
    entries: dict[int, Resolved] = {}
    known = {(r.key, r.source): r for r in (reads.entries.values() if reads else ())}
    for index in store_indexes(spec, namespace):
        entry = spec.data[index]
        label = describe(entry.from_)
        entries[index] = known.get((entry.key, label)) or Resolved(
            entry.key,
            label,
            reason=PENDING,
            message=f"entry {entry.key!r}: waiting for the first read of {label}",
        )
    paths = {r.status.source: r for r in (reads.data_from if reads else ()) if r.status}
    statuses = {s.source: s for s in data_from}
    carried: list[DataFromRead] = []
    for wanted in spec.data_from:
        label = wanted.describe()
        failure = Resolved("", label, reason=PENDING, message=f"dataFrom {label}: waiting")
        carried.append(paths.get(label) or DataFromRead(statuses.get(label), failure=failure))
    return StoreReads(entries, tuple(carried))


def unreadable(spec: api.SecretSyncSpec, namespace: str, message: str) -> StoreReads:
    """Every store entry failed with `message`: a poll that ended without results.

    Counted as a provider outage (last known good kept, retried with backoff),
    so a poll that crashed can never leave its SecretSync waiting forever.
    """

    def failure(key: str, label: str, prefix: str) -> Resolved:
        return Resolved(
            key, label, reason="ProviderError", kind="Unavailable", message=prefix + message
        )

    entries = {
        i: failure(spec.data[i].key, describe(spec.data[i].from_), f"entry {spec.data[i].key!r}: ")
        for i in store_indexes(spec, namespace)
    }
    failed: list[DataFromRead] = []
    for wanted in spec.data_from:
        label = wanted.describe()
        cause = failure("", label, f"dataFrom {label}: ")
        status = api.DataFromStatus(source=label, state="ProviderError", message=cause.message)
        failed.append(DataFromRead(status, failure=cause))
    return StoreReads(entries, tuple(failed))


def resume(
    spec: api.SecretSyncSpec,
    namespace: str,
    previous: Mapping[str, api.KeyStatus],
    data_from: Sequence[api.DataFromStatus],
    target: Obj | None,
) -> StoreReads | None:
    """The last poll, rebuilt from the target and the status; None unless every store key is there.

    Used after a restart instead of polling, when the status vouches that the
    target holds what the stores returned (see `refresh`).
    """
    current: Mapping[str, str] = (target or {}).get("data") or {}

    def kept(key: str, label: str) -> Resolved | None:
        before = previous.get(key)
        if before is None or before.state != "Synced" or before.source != label:
            return None
        if key not in current:
            return None
        return Resolved(key, label, value=current[key], version=before.source_version)

    entries: dict[int, Resolved] = {}
    for index in store_indexes(spec, namespace):
        entry = spec.data[index]
        result = kept(entry.key, describe(entry.from_))
        if result is None:
            return None
        entries[index] = result
    reads: list[DataFromRead] = []
    for index, wanted in enumerate(spec.data_from):
        label = wanted.describe()
        if index >= len(data_from) or data_from[index].source != label:
            return None
        if data_from[index].state != "Synced":
            return None
        keys = [kept(k, label) for k, s in previous.items() if s.source == label]
        if any(k is None for k in keys):
            return None
        reads.append(DataFromRead(data_from[index], keys=tuple(k for k in keys if k is not None)))
    return StoreReads(entries, tuple(reads))


def assemble(
    spec: api.SecretSyncSpec,
    kubernetes: Mapping[int, Resolved],
    reads: StoreReads,
    previous: Mapping[str, api.KeyStatus],
) -> tuple[list[Resolved], list[api.DataFromStatus]]:
    """Every key's result in order (data, then dataFrom keys not taken yet) and dataFrom status.

    A failed dataFrom read yields the keys it produced before, each carrying
    the failure, so the plan keeps their last known good values. A dataFrom
    entry never read yet and with no keys before yields its Pending failure
    itself (key ""), so the plan knows to wait for it.
    """
    resolved = [
        kubernetes[i] if i in kubernetes else reads.entries[i] for i in range(len(spec.data))
    ]
    taken = {r.key for r in resolved}
    statuses: list[api.DataFromStatus] = []
    for read in reads.data_from:
        keys: Sequence[Resolved] = read.keys
        if read.failure is not None:
            label = read.failure.source
            keys = [
                dataclasses.replace(read.failure, key=k)
                for k, s in previous.items()
                if s.source == label
            ]
        produced = [r for r in keys if r.key not in taken]
        taken.update(r.key for r in produced)
        resolved.extend(produced)
        if read.failure is not None and read.failure.reason == PENDING and not keys:
            resolved.append(read.failure)
        if read.status is not None:
            statuses.append(read.status.model_copy(update={"key_count": len(produced)}))
    return resolved, statuses
