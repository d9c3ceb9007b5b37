"""Dynamic credentials in a SecretSync: one lease per `spec.dynamic` entry (issue 14).

Seed 000: "once you factor in dynamic secrets, each service should own and
rotate its own credentials independently". A `spec.dynamic` entry asks a
store that issues leases (`providers.protocol.LeaseProvider`) for credentials;
every field of the lease becomes a key (`prefix` + field), all written in one
apply, so a consumer never sees one lease's user with another's password.

The lease's life, decided here and acted on in the background (the provider
calls go through the store's pooled client on the bounded poll slots, never
on a reconcile worker; the finished work enqueues the SecretSync again):

* renewed when `renewAtPercent` of its TTL has passed;
* replaced (new credentials issued, written, and the old lease revoked
  `revokeGrace` later) when a renewal grants less than the lease's TTL (its
  max TTL is near) or is refused (the lease is gone);
* revoked when the SecretSync is deleted (`revokeOnDelete`), from the ids on
  the target, so a restarted controller revokes what its predecessor issued,
  and when its entry is removed from the spec (from memory: a controller
  restarted in between leaves that lease to end at its TTL);
* a static role (no lease: a user the engine rotates) is read again at
  `renewAtPercent` of the time to its rotation, at most once a second.

Restarts neither duplicate nor lose a lease: the lease id is written as an
annotation of the target Secret (`lease.secretloom.io/<SecretSync>.<index>`) in the same
apply as its credentials, so the two can never disagree, and only people who
can read the credentials can read the id. A controller that starts finds the
id there and renews it (learning its TTL) instead of issuing a new one. The
status names each lease by a SHA-256 prefix of its id, never the id.

A failure (store down, credentials refused) keeps the last credentials (the
plan's last known good rule) and is retried with a growing backoff. A failed
revocation of replaced credentials is retried every `REVOKE_RETRY` seconds
and never fails the current ones; a lease whose revocation never succeeds
still ends at its TTL.

Hand-written: the schedule (a few timestamps per entry); the provider's
lease calls do the rest.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime
import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from secretloom.api import secretsync as api
from secretloom.controllers.secretsync.plan import PENDING, Resolved
from secretloom.controllers.secretsync.polls import Polls
from secretloom.controllers.secretsync.sources import Sources
from secretloom.providers.protocol import Lease, LeaseProvider, NotFound, ProviderError, ValueRef
from secretloom.runtime.informer import Key
from secretloom.runtime.kube import Obj

log = logging.getLogger(__name__)

ANNOTATION_PREFIX = "lease.secretloom.io/"
RETRY_BASE, RETRY_MAX = 2.0, 120.0
MIN_RENEW_DELAY = 1.0
REVOKE_RETRY = 10.0


def annotation_key(sync_name: str, index: int) -> str:
    """`lease.secretloom.io/<name>.<index>`, the name hashed when the key would be too long."""
    name = f"{sync_name}.{index}"
    if len(name) > 63:
        digest = hashlib.sha256(sync_name.encode()).hexdigest()[:16]
        name = f"{sync_name[: 63 - len(digest) - len(str(index)) - 2]}-{digest}.{index}"
    return ANNOTATION_PREFIX + name


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _rfc3339(monotonic_at: float, now: float) -> str:
    moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=monotonic_at - now)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Held:
    """The lease an entry holds: its id, its credentials (base64) and its schedule."""

    lease_id: str
    fingerprint: str
    values: dict[str, str]  # key (prefix + field) -> base64 value
    ttl: float
    renew_at: float  # monotonic
    expires: float  # monotonic
    # (renew_at, expires) and their RFC 3339 times, converted once so the status stays put.
    shown: tuple[float, float, str, str] = (-1.0, -1.0, "", "")


@dataclass
class Entry:
    wanted: api.DynamicEntry
    held: Held | None = None
    retiring: list[tuple[str, float]] = field(default_factory=list)  # (lease id, revoke at)
    replace: bool = False  # issue new credentials at the next work
    failure: Resolved | None = None
    failures: int = 0
    retry_at: float = 0.0


@dataclass
class Book:
    """One SecretSync's leases, by entry label; kept in its memory record."""

    entries: dict[str, Entry] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None


def _due(entry: Entry, now: float) -> bool:
    if now < entry.retry_at:
        return False
    renew = entry.held is not None and now >= entry.held.renew_at
    revoke = any(at <= now for _, at in entry.retiring)
    return entry.held is None or entry.replace or renew or revoke


def _next(entry: Entry, now: float) -> float | None:
    """Seconds until the entry has work (called when it has none now)."""
    if now < entry.retry_at:
        return entry.retry_at - now  # backing off: nothing before then
    times = [at for _, at in entry.retiring]
    if entry.held is not None:
        times.append(entry.held.renew_at)
    return max(0.0, min(times) - now) if times else None


class Leases:
    """Decides what each dynamic entry resolves to and keeps its lease alive."""

    def __init__(
        self,
        sources: Sources,
        polls: Polls,
        requeue: Callable[[Key], None],
        clock: Callable[[], float] = time.monotonic,  # for tests
    ) -> None:
        self._sources = sources
        self._polls = polls
        self._requeue = requeue
        self._clock = clock

    def observe(
        self,
        key: Key,
        book: Book,
        spec: api.SecretSyncSpec,
        target: Obj | None,
        status: api.SecretSyncStatus,
    ) -> tuple[list[Resolved], dict[str, str], list[api.LeaseStatus], float | None]:
        """Per-key results, the target annotations, the status, and when to look again.

        Starts the background work when something is due and none runs.
        """
        now = self._clock()
        namespace, name = key
        resolved: list[Resolved] = []
        annotations: dict[str, str] = {}
        statuses: list[api.LeaseStatus] = []
        wake: list[float] = []
        labels = {e.describe() for e in spec.dynamic}
        removed = [book.entries.pop(k) for k in [k for k in book.entries if k not in labels]]
        ended = [e for e in removed if e.wanted.revoke_on_delete]
        if ended:
            self._polls.start(namespace, self._end(namespace, ended))
        for index, wanted in enumerate(spec.dynamic):
            label = wanted.describe()
            entry = book.entries.get(label)
            if entry is None:
                held = _recovered(wanted, annotation_key(name, index), target, status, now)
                entry = book.entries[label] = Entry(wanted, held=held)
            resolved += _results(label, entry)
            if entry.held is not None:
                if entry.held.lease_id:
                    annotations[annotation_key(name, index)] = entry.held.lease_id
                statuses.append(_status(label, entry.held, now))
            upcoming = _next(entry, now)
            if upcoming is not None:
                wake.append(upcoming)
        if book.task is not None and not book.task.done():
            return resolved, annotations, statuses, None  # the work enqueues when it ends
        if any(_due(entry, now) for entry in book.entries.values()):
            book.task = self._polls.start(namespace, self._work(key, book, spec))
            return resolved, annotations, statuses, None
        return resolved, annotations, statuses, min(wake) if wake else None

    async def _work(self, key: Key, book: Book, spec: api.SecretSyncSpec) -> None:
        """Every due issue, renewal and revocation of one SecretSync, then enqueue it."""
        try:
            for wanted in spec.dynamic:
                entry = book.entries.get(wanted.describe())
                if entry is not None and _due(entry, self._clock()):
                    await self._step(key[0], wanted, entry)
        finally:
            self._requeue(key)

    async def _step(self, namespace: str, wanted: api.DynamicEntry, entry: Entry) -> None:
        label = wanted.describe()
        try:
            await self._revoke_retired(namespace, wanted, entry)
            held = entry.held
            if held is not None and not entry.replace and self._clock() >= held.renew_at:
                if held.lease_id:
                    await self._renew(namespace, wanted, entry, held)
                else:
                    entry.replace = True  # a static role: read it again (the engine rotates it)
            if entry.held is None or entry.replace:
                await self._issue(namespace, wanted, entry)
        except ProviderError as err:
            delay = min(RETRY_MAX, RETRY_BASE * 2**entry.failures)
            entry.failures += 1
            entry.retry_at = self._clock() + delay
            entry.failure = Resolved(
                "",
                label,
                reason="ProviderError",
                kind=err.reason,
                message=f"dynamic {label}: {err}",
            )
            log.warning("lease work failed", extra={"source": label, "error": str(err)})
            return
        entry.failure, entry.failures, entry.retry_at = None, 0, 0.0

    async def _revoke_retired(self, namespace: str, wanted: api.DynamicEntry, entry: Entry) -> None:
        """Revoke what is due; a failure is retried later and never fails the current lease."""
        for lease_id, at in list(entry.retiring):
            if at > self._clock():
                continue
            entry.retiring.remove((lease_id, at))
            try:
                await self._revoke(namespace, wanted, lease_id)
            except ProviderError as err:
                entry.retiring.append((lease_id, self._clock() + REVOKE_RETRY))
                log.warning(
                    "revoking replaced credentials failed; retrying",
                    extra={"source": wanted.describe(), "error": str(err)},
                )
                continue
            log.info("revoked replaced credentials", extra={"source": wanted.describe()})

    async def _end(self, namespace: str, removed: list[Entry]) -> None:
        """Revoke the leases of entries removed from the spec (`revokeOnDelete`)."""
        for entry in removed:
            ids = [i for i, _ in entry.retiring] + ([entry.held.lease_id] if entry.held else [])
            for lease_id in [i for i in ids if i]:
                try:
                    await self._revoke(namespace, entry.wanted, lease_id)
                except ProviderError as err:
                    log.warning(
                        "revoking a removed entry's lease failed; it ends at its TTL",
                        extra={"source": entry.wanted.describe(), "error": str(err)},
                    )

    async def _renew(
        self, namespace: str, wanted: api.DynamicEntry, entry: Entry, held: Held
    ) -> None:
        async def renew(provider: LeaseProvider) -> float:
            return await provider.renew(held.lease_id, held.ttl)

        try:
            granted = await self._sources.lease(namespace, wanted.store, renew)
        except NotFound:
            entry.held, entry.replace = None, True  # gone: issue anew, nothing to revoke
            return
        now = self._clock()
        held.expires = now + granted
        if granted < held.ttl:
            entry.replace = True  # the max TTL is near: the lease ends in `granted` seconds
        else:
            held.renew_at = now + granted * wanted.renew_at_percent / 100

    async def _issue(self, namespace: str, wanted: api.DynamicEntry, entry: Entry) -> None:
        async def issue(provider: LeaseProvider) -> Lease:
            return await provider.issue(ValueRef(wanted.path))

        lease = await self._sources.lease(namespace, wanted.store, issue)
        old, entry.held, entry.replace = entry.held, _held(wanted, lease, self._clock()), False
        if old is not None and old.lease_id:
            grace = api.duration_seconds(wanted.revoke_grace)
            entry.retiring.append((old.lease_id, min(self._clock() + grace, old.expires)))
        log.info(
            "issued credentials",
            extra={"source": wanted.describe(), "lease": entry.held.fingerprint, "ttl": lease.ttl},
        )

    async def _revoke(self, namespace: str, wanted: api.DynamicEntry, lease_id: str) -> None:
        async def revoke(provider: LeaseProvider) -> None:
            await provider.revoke(lease_id)

        await self._sources.lease(namespace, wanted.store, revoke)

    async def release(
        self, key: Key, book: Book | None, spec: api.SecretSyncSpec, target: Obj | None
    ) -> None:
        """On deletion: revoke the leases of the entries that ask for it (ids from the target)."""
        namespace, name = key
        annotations = ((target or {}).get("metadata") or {}).get("annotations") or {}
        for index, wanted in enumerate(spec.dynamic):
            if not wanted.revoke_on_delete:
                continue
            entry = (book.entries if book else {}).get(wanted.describe())
            ids = {annotations.get(annotation_key(name, index), "")}
            if entry is not None:
                ids |= {lease_id for lease_id, _ in entry.retiring}
                ids.add(entry.held.lease_id if entry.held else "")
            for lease_id in sorted(ids - {""}):
                try:
                    await self._revoke(namespace, wanted, lease_id)
                except ProviderError as err:
                    log.warning(
                        "revoking a lease on deletion failed; it ends at its TTL",
                        extra={"source": wanted.describe(), "error": str(err)},
                    )


def _results(label: str, entry: Entry) -> list[Resolved]:
    """The entry's keys: its credentials, or (after a failure) the failure for each of them."""
    held, failure = entry.held, entry.failure
    if held is None:  # keyed by the label: no key is known before the first lease
        return [
            dataclasses.replace(failure, key=label)
            if failure is not None
            else Resolved(label, label, reason=PENDING, message=f"dynamic {label}: issuing")
        ]
    if failure is not None:  # the plan keeps the last values written, and reports why
        return [
            Resolved(k, label, reason=failure.reason, kind=failure.kind, message=failure.message)
            for k in sorted(held.values)
        ]
    return [
        Resolved(k, label, value=v, version=held.fingerprint)
        for k, v in sorted(held.values.items())
    ]


def _status(label: str, held: Held, now: float) -> api.LeaseStatus:
    if held.shown[:2] != (held.renew_at, held.expires):
        renew, expire = _rfc3339(held.renew_at, now), _rfc3339(held.expires, now)
        held.shown = (held.renew_at, held.expires, renew, expire)
    return api.LeaseStatus(
        source=label,
        fingerprint=held.fingerprint,
        ttl_seconds=round(held.ttl),
        renew_time=held.shown[2],
        expire_time=held.shown[3],
    )


def _fingerprint(lease_id: str) -> str:
    return hashlib.sha256(lease_id.encode()).hexdigest()[:16]


def _held(wanted: api.DynamicEntry, lease: Lease, now: float) -> Held:
    # A static role has no id: each read gets a fresh tag, so a rotation is a source change.
    fingerprint = _fingerprint(lease.lease_id) if lease.lease_id else secrets.token_hex(8)
    return Held(
        lease_id=lease.lease_id,
        fingerprint=fingerprint,
        values={wanted.prefix + f: _b64(v) for f, v in lease.data.items()},
        ttl=lease.ttl,
        # At least a second apart: a static role's TTL runs down to 0 at its rotation.
        renew_at=now + max(MIN_RENEW_DELAY, lease.ttl * wanted.renew_at_percent / 100),
        expires=now + lease.ttl,
    )


def _recovered(
    wanted: api.DynamicEntry,
    annotation: str,
    target: Obj | None,
    status: api.SecretSyncStatus,
    now: float,
) -> Held | None:
    """The lease a previous controller wrote to the target, renewed at once to learn its TTL."""
    lease_id = (((target or {}).get("metadata") or {}).get("annotations") or {}).get(annotation)
    current: Mapping[str, str] = (target or {}).get("data") or {}
    label = wanted.describe()
    keys = [k.key for k in status.keys if k.source == label]
    ttl = next((s.ttl_seconds for s in status.leases if s.source == label), 0)
    if not lease_id or not keys or not ttl or any(k not in current for k in keys):
        return None
    return Held(
        lease_id=lease_id,
        fingerprint=_fingerprint(lease_id),
        values={k: current[k] for k in keys},
        ttl=float(ttl),
        renew_at=now,
        expires=now,
    )


def merged(resolved: list[Resolved], dynamic: list[Resolved]) -> list[Resolved]:
    """`resolved` then the dynamic entries' keys that `spec.data` or `dataFrom` did not take."""
    taken = {r.key for r in resolved}
    return [*resolved, *(r for r in dynamic if r.key not in taken)]
