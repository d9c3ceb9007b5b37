"""What a SecretSync's store entries returned, as pure data: remembered, resumed, assembled.

`StoreReads` is one poll's result (per `spec.data` index, plus one
`DataFromRead` per dataFrom entry); the reconciler keeps it in memory between
polls. `resume` rebuilds it from the target and the status after a restart
(see `refresh`), and `assemble` turns it, with the Kubernetes entries, into the
ordered per-key results the plan takes. No I/O here, so every rule is
unit-tested without a cluster or a provider.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from secretloom.api import secretsync as api
from secretloom.controllers.secretsync.plan import Resolved
from secretloom.runtime.kube import Obj


def describe(source: api.Source) -> str:
    if source.secret is not None:
        return f"secret/{source.secret}#{source.key}"
    store = source.store.describe() if source.store else "secretstore/?"
    return f"{store}:{source.path}#{source.property}"


@dataclass(frozen=True, slots=True)
class DataFromRead:
    """One dataFrom entry's last read: its keys, or the failure its earlier keys inherit."""

    status: api.DataFromStatus
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
            d.status.state == "ProviderError" for d in self.data_from
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
    the failure, so the plan keeps their last known good values.
    """
    resolved = [
        kubernetes[i] if i in kubernetes else reads.entries[i] for i in range(len(spec.data))
    ]
    taken = {r.key for r in resolved}
    statuses: list[api.DataFromStatus] = []
    for read in reads.data_from:
        keys: Sequence[Resolved] = read.keys
        if read.failure is not None:
            label = read.status.source
            keys = [
                dataclasses.replace(read.failure, key=k)
                for k, s in previous.items()
                if s.source == label
            ]
        produced = [r for r in keys if r.key not in taken]
        taken.update(r.key for r in produced)
        resolved.extend(produced)
        statuses.append(read.status.model_copy(update={"key_count": len(produced)}))
    return resolved, statuses
