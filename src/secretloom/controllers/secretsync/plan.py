"""What a SecretSync should write, as a pure function of what was observed.

Inputs are the parsed SecretSync, each entry's resolved source, the cached
target Secret and the keys the SecretSync synced before (its status). Output is
a `Plan`: the server-side apply body for the target (or None: nothing to
write), the per-key status and the conditions. No I/O, so every rule below is
unit-tested without a cluster.

Rules:
- The apply body always lists every key this SecretSync means to own. Server-side
  apply removes keys the manager owned but no longer lists, so dropping an entry
  removes exactly that key, and no other writer's key is ever touched.
- A source that is missing or failing keeps the key's last known good value
  (the target's current value, if this SecretSync synced it before): no key is
  ever removed or blanked because a source or a provider failed (a store that
  is down, sealed or refuses the credentials: reason ProviderError).
- Nothing is written when the target already holds every desired value and no
  owned key needs removing: zero writes at rest.
- Values stay base64 as on the wire, copied from source to target untouched.
- Some targets are never written (reason on Ready): a `kubernetes.io/service-account-token`
  Secret (a copied or forged token must not become an API credential), and, for
  `creationPolicy: Owner`, an existing Secret this SecretSync did not create, unless
  `adopt: true` says to take it (AdoptionRequired): an ownerReference hands the
  Secret to the garbage collector, which a tenant must not be able to do to a
  Secret it could not delete.
- A store entry not read yet (reason Pending: its first poll runs in the
  background) keeps its last known good value if it has one; if it has none,
  nothing is written at all until it is read, so a consumer never sees a
  target with only some of a new SecretSync's keys.
- After a 409, `after_conflict` decides key by key: take back (drift of a key
  this SecretSync synced before, held by a writer that is not a SecretSync),
  take over (`force`, from a SecretSync this one outranks, or from any writer
  when the operator allows it), or yield (Conflict). Who is a SecretSync comes
  from the SecretSync index, never from a field manager's name, which any
  writer can choose. Two forcing SecretSyncs resolve by age: the older keeps
  the key, so they never flap. `conflict_retry` then says what the second
  apply holds, or that nothing is left to write.
- `conditions` derives every condition from the plan and the act's outcome:
  an apply the API server refused is `Ready=False`, reason `ApplyFailed`,
  with the server's message (it names fields and keys, never values).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from secretloom.api import secretsync as api
from secretloom.api.conditions import Condition
from secretloom.runtime.kube import ApiError, Obj

CONDITION_TYPES = ("Ready", "Conflict", "Contested", "SourceMissing", "TargetMissing")
PROVIDER_CONDITION = "ProviderError"  # only on SecretSyncs that read stores
PENDING = "Pending"  # a store entry whose first read is running
APPLY_FAILED = "ApplyFailed"
SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"  # noqa: S105 (a Secret type)
_CONFLICT_FIELD = re.compile(r"^\.data\.(.+)$")
_CONFLICT_MANAGER = re.compile(r'conflict with "([^"]+)"')


@dataclass(frozen=True, slots=True)
class Resolved:
    """One entry's source after reading it: a base64 value, or why there is none."""

    key: str
    source: str
    value: str | None = None
    version: str = ""
    # SourceMissing, ProviderError, InvalidReference, StoreNotFound, NamespaceNotAllowed, ...
    reason: str = ""
    message: str = ""
    kind: str = ""  # for ProviderError: Unavailable, Unauthorized, InvalidConfig


@dataclass(frozen=True, slots=True)
class Observed:
    namespace: str
    name: str
    uid: str
    generation: int
    spec: api.SecretSyncSpec
    resolved: Sequence[Resolved]
    target: Obj | None
    previous: Mapping[str, api.KeyStatus]
    # Annotations this SecretSync owns on the target (the ids of its leases, issue 14).
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    desired: dict[str, str]
    apply: Obj | None
    drift_keys: frozenset[str]
    keys: list[api.KeyStatus]
    problems: list[Resolved] = field(default_factory=list)
    target_missing: bool = False
    pending: list[Resolved] = field(default_factory=list)  # never read: the write waits
    changed: frozenset[str] = frozenset()  # keys whose value the apply changes


def owner_reference(name: str, uid: str) -> Obj:
    """Owner references are namespace-local: the owner lives beside the target."""
    return {
        "apiVersion": f"{api.GROUP}/{api.VERSION}",
        "kind": api.KIND,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def target_body(observed: Observed, data: Mapping[str, str], *, owned: bool) -> Obj:
    """The apply configuration: only the fields this SecretSync owns."""
    target = observed.spec.target
    metadata: Obj = {"name": target.name, "namespace": observed.namespace}
    if owned:
        metadata["ownerReferences"] = [owner_reference(observed.name, observed.uid)]
    if observed.annotations:
        metadata["annotations"] = dict(observed.annotations)
    body: Obj = {"apiVersion": "v1", "kind": "Secret", "metadata": metadata}
    if data:
        # Never `data: {}`: applying an empty map claims the whole map, which
        # would conflict with every other writer's keys.
        body["data"] = dict(data)
    current_type = (observed.target or {}).get("type")
    # Co-own `type` only when it is ours to set or already equal: `type` is
    # immutable, and dropping an owned field makes the server reset it.
    if current_type is None or current_type == target.type:
        body["type"] = target.type
    return body


def plan(observed: Observed) -> Plan:
    target = observed.spec.target
    current: Mapping[str, str] = (observed.target or {}).get("data") or {}
    if observed.target is None and not target.create_if_missing:
        return Plan({}, None, frozenset(), _key_status(observed, {}), target_missing=True)
    refusal = target_refusal(observed)
    if refusal is not None:
        keys = [
            api.KeyStatus(key=e.key, source=e.source, state="Error", message=refusal.message)
            for e in observed.resolved
        ]
        return Plan({}, None, frozenset(), keys, [refusal])

    desired: dict[str, str] = {}
    drift: set[str] = set()
    owned = owned_keys(observed.previous)
    problems: list[Resolved] = []
    pending: list[Resolved] = []
    for entry in observed.resolved:
        before = observed.previous.get(entry.key)
        synced_before = entry.key in owned
        if entry.value is None:
            if synced_before and entry.key in current:
                desired[entry.key] = current[entry.key]  # last known good
            if entry.reason != PENDING:
                problems.append(entry)
            elif entry.key not in desired:
                pending.append(entry)
            continue
        desired[entry.key] = entry.value
        if (
            synced_before
            and before is not None
            and before.source_version == entry.version
            and current.get(entry.key) != entry.value
        ):
            drift.add(entry.key)

    owner = target.creation_policy == "Owner"
    needs_owner_ref = owner and not has_owner_ref(observed)
    annotations = ((observed.target or {}).get("metadata") or {}).get("annotations") or {}
    stale = any(annotations.get(k) != v for k, v in observed.annotations.items())
    write = (
        observed.target is None
        or differs(current, desired, observed.previous)
        or needs_owner_ref
        or stale
    )
    if (observed.target is None and not desired) or pending:
        # Never create an empty shell just to hold nothing; never write a
        # partial set of keys while some are still being read for the first time.
        write = False
    body = target_body(observed, desired, owned=owner) if write else None
    return Plan(
        desired,
        body,
        frozenset(drift),
        _key_status(observed, desired),
        problems,
        pending=pending,
        changed=frozenset(k for k, v in desired.items() if current.get(k) != v),
    )


def target_refusal(observed: Observed) -> Resolved | None:
    """Why the existing target must not be written at all, or None."""
    target, spec = observed.target, observed.spec.target
    if target is None:
        return None
    label = f"secret/{spec.name}"
    if target.get("type") == SERVICE_ACCOUNT_TOKEN:
        return Resolved(
            "",
            label,
            reason="TargetNotAllowed",
            message=(
                f"Secret {spec.name!r} is of type {SERVICE_ACCOUNT_TOKEN}; "
                "secretloom never writes ServiceAccount token Secrets"
            ),
        )
    if spec.creation_policy == "Owner" and not spec.adopt and not has_owner_ref(observed):
        return Resolved(
            "",
            label,
            reason="AdoptionRequired",
            message=(
                f"Secret {spec.name!r} already exists and was not created by this SecretSync; "
                "set spec.target.adopt: true to take ownership of it, or use "
                "creationPolicy: Merge to contribute keys only"
            ),
        )
    return None


@dataclass(frozen=True, order=True)
class Rank:
    """Seniority among SecretSyncs: older first, then by name (creation times tie)."""

    created: str  # RFC 3339, which sorts in time order
    namespace: str
    name: str


@dataclass(frozen=True)
class Claim:
    """What a SecretSync holding (or wanting) a contested key asserts."""

    rank: Rank
    force: bool


@dataclass(frozen=True)
class Resolution:
    """What to do with each key a 409 named."""

    retake: frozenset[str]  # drift: synced before, taken by a writer that is not a SecretSync
    take_over: frozenset[str]  # forced, and this SecretSync may
    yielded: dict[str, str]  # key (or field path) -> the manager keeping it

    @property
    def forced(self) -> frozenset[str]:
        return self.retake | self.take_over


def after_conflict(
    owners: Mapping[str, str],
    *,
    ours: Claim,
    synced_before: set[str],
    holders: Mapping[str, Claim | None],
    force_foreign: bool,
    moving: Mapping[str, str] | None = None,
) -> Resolution:
    """Key by key, after a 409: take back, take over, or yield.

    `owners` maps each contested key (or, for a whole field, its path) to the
    field manager holding it; `holders` maps a manager to the SecretSync it is
    (None, or absent: not a SecretSync, whatever its name). `moving` maps keys
    of this SecretSync's own to the manager of its target's other write mode
    holding them for it (`aggregate.py`): held by that manager, they are taken over.
    """
    retake: set[str] = set()
    take_over: set[str] = set()
    yielded: dict[str, str] = {}
    for key, manager in owners.items():
        holder = holders.get(manager)
        if key.startswith("."):
            yielded[key] = manager  # a whole field (e.g. `.data`): never ours to take
        elif moving and moving.get(key) == manager:
            take_over.add(key)
        elif holder is None and key in synced_before:
            retake.add(key)
        elif ours.force and _outranks(ours, holder, force_foreign=force_foreign):
            take_over.add(key)
        else:
            yielded[key] = manager
    return Resolution(frozenset(retake), frozenset(take_over), yielded)


def _outranks(ours: Claim, holder: Claim | None, *, force_foreign: bool) -> bool:
    """May a forcing SecretSync take a key from `holder` (None: not a SecretSync)?"""
    if holder is None:
        return force_foreign
    return not holder.force or ours.rank < holder.rank


def conflicts_of(err: ApiError) -> dict[str, str]:
    """Data key (or, for any other field, its path) -> owning field manager, from a 409."""
    owners: dict[str, str] = {}
    for cause in (err.body.get("details") or {}).get("causes") or []:
        path = cause.get("field", "")
        key = _CONFLICT_FIELD.match(path)
        manager = _CONFLICT_MANAGER.search(cause.get("message", ""))
        if manager:
            owners[key.group(1) if key else path] = manager.group(1)
    return owners


@dataclass(frozen=True)
class Retry:
    """The answer to a 409: who keeps each key, and the second apply (None: nothing to write)."""

    resolution: Resolution
    body: Obj | None
    force: bool


def conflict_retry(
    observed: Observed,
    planned: Plan,
    owners: Mapping[str, str],
    *,
    ours: Claim,
    holders: Mapping[str, Claim | None],
    force_foreign: bool,
    moving: Mapping[str, str] | None = None,
) -> Retry:
    """After a 409 on `planned.apply`: decide each key, then what is left to write.

    The retry lists every desired key except the yielded ones, forced when a
    key is taken back or taken over. Nothing is written when a whole field is
    owned by another writer (no key of ours can be applied beside it) or when
    what is left already holds its values.
    """
    resolution = after_conflict(
        owners,
        ours=ours,
        synced_before={k for k, s in observed.previous.items() if s.state == "Synced"},
        holders=holders,
        force_foreign=force_foreign,
        moving=moving,
    )
    yielded = resolution.yielded
    data = {k: v for k, v in planned.desired.items() if k not in yielded}
    current = (observed.target or {}).get("data") or {}
    whole_field = any(k.startswith(".") for k in yielded)  # e.g. `.data` owned as a whole
    if whole_field or not differs(current, data, observed.previous):
        return Retry(resolution, None, force=False)
    owned = observed.spec.target.creation_policy == "Owner"
    body = target_body(observed, data, owned=owned)
    return Retry(resolution, body, force=bool(resolution.forced))


def owned_keys(previous: Mapping[str, api.KeyStatus]) -> set[str]:
    """Keys this SecretSync wrote before: synced, or kept as last known good."""
    return {
        k
        for k, s in previous.items()
        if s.state == "Synced"
        or (s.state in ("SourceMissing", "ProviderError", "Error") and s.source_version)
    }


def differs(
    current: Mapping[str, str], desired: Mapping[str, str], previous: Mapping[str, api.KeyStatus]
) -> bool:
    """True if writing `desired` would change the target: a value, or an owned key to remove."""
    if any(current.get(k) != v for k, v in desired.items()):
        return True
    return any(k not in desired and k in current for k in owned_keys(previous))


def has_owner_ref(observed: Observed) -> bool:
    refs = ((observed.target or {}).get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == observed.uid for ref in refs)


def _key_status(observed: Observed, desired: Mapping[str, str]) -> list[api.KeyStatus]:
    statuses = []
    for entry in observed.resolved:
        if entry.reason == PENDING:
            # Nothing new is known: a key synced before stays as it was; one
            # never read has no status yet (the Ready condition says why).
            before = observed.previous.get(entry.key)
            if before is not None and entry.key in desired:
                statuses.append(before)
            continue
        message = entry.message
        if entry.value is None and entry.key in desired:
            # Last known good kept: still ours, still the old version.
            previous = observed.previous.get(entry.key)
            version = previous.source_version if previous else ""
            message += "; the last synced value is kept"
        else:
            version = entry.version
        statuses.append(
            api.KeyStatus(
                key=entry.key,
                source=entry.source,
                source_version=version,
                state=_state(entry),
                message=message,
            )
        )
    return statuses


def _state(entry: Resolved) -> api.KeyState:
    if entry.value is not None:
        return "Synced"
    if entry.reason == "SourceMissing":
        return "SourceMissing"
    if entry.reason == PROVIDER_CONDITION:
        return "ProviderError"
    return "Error"


def with_conflicts(
    keys: Sequence[api.KeyStatus], conflicting: Mapping[str, str]
) -> list[api.KeyStatus]:
    """Mark keys another manager owns as Conflict."""
    return [
        k.model_copy(update={"state": "Conflict", "source_version": ""})
        if k.key in conflicting
        else k
        for k in keys
    ]


def conditions(
    *,
    generation: int,
    keys: Sequence[api.KeyStatus],
    problems: Sequence[Resolved],
    conflicting: Mapping[str, str],
    contested: Sequence[str],
    target_missing: bool,
    target_name: str,
    reads_stores: bool = False,
    still_contested: bool = False,
    pending: Sequence[Resolved] = (),
    apply_error: str = "",
) -> list[Condition]:
    """All five condition types every time, so `kubectl wait` works on any of them;
    a sixth, ProviderError, on SecretSyncs that read stores.

    `contested` names the keys another writer changed again in this observation;
    `still_contested` keeps the condition while the drift window lasts even
    when none did this time (it is a function of time, so it does not flip on
    every event). `pending` are store entries waiting for their first read;
    `apply_error` is the API server's refusal of the target apply.
    """

    def cond(kind: str, on: bool, reason: str, message: str) -> Condition:
        return Condition(
            type=kind,
            status="True" if on else "False",
            reason=reason if on else "AsExpected",
            message=message if on else "",
            observed_generation=generation,
        )

    missing = [p for p in problems if p.reason == "SourceMissing"]
    errors = [p for p in problems if p.reason != "SourceMissing"]
    outages = [p for p in problems if p.reason == PROVIDER_CONDITION]
    managers = sorted(set(conflicting.values()))
    conflict_msg = "; ".join(
        f"{'field' if k.startswith('.') else 'key'} {k!r} is owned by field manager {m!r}"
        for k, m in sorted(conflicting.items())
    )
    if conflict_msg:
        conflict_msg += (
            " (spec.target.force: true takes keys over from younger or non-forcing SecretSyncs)"
        )
    contested_msg = (
        f"keys {sorted(contested)} are repeatedly changed by another writer; "
        "corrections are backing off"
        if contested
        else "another writer keeps changing owned keys"
    )
    result = [
        cond("Conflict", bool(conflicting), "OwnedByAnotherManager", conflict_msg),
        cond("Contested", bool(contested) or still_contested, "DriftKeepsReturning", contested_msg),
        cond(
            "SourceMissing", bool(missing), "SourceMissing", "; ".join(p.message for p in missing)
        ),
        cond(
            "TargetMissing",
            target_missing,
            "TargetMissing",
            f"Secret {target_name!r} does not exist and createIfMissing is false; "
            "waiting for it to be created",
        ),
    ]

    if reads_stores:
        result.append(
            cond(
                PROVIDER_CONDITION,
                bool(outages),
                outages[0].kind if outages else "",
                "; ".join(p.message for p in outages),
            )
        )

    def not_ready(reason: str, message: str) -> Condition:
        return Condition(
            type="Ready",
            status="False",
            reason=reason,
            message=message,
            observed_generation=generation,
        )

    if target_missing:
        ready = not_ready("TargetMissing", result[3].message)
    elif apply_error:
        ready = not_ready(APPLY_FAILED, f"the API server refused the apply: {apply_error}")
    elif errors:
        ready = not_ready(errors[0].reason, "; ".join(p.message for p in errors))
    elif conflicting:
        ready = not_ready("Conflict", f"conflict with {', '.join(managers)}")
    elif missing:
        ready = not_ready("SourceMissing", result[2].message)
    elif pending:
        waiting = ", ".join(sorted({p.source for p in pending}))
        ready = not_ready(PENDING, f"waiting for the first read of {waiting}")
    else:
        synced = sum(1 for k in keys if k.state == "Synced")
        ready = Condition(
            type="Ready",
            status="True",
            reason="Synced",
            message=f"{synced} key(s) synced to Secret {target_name!r}",
            observed_generation=generation,
        )
    return [ready, *result]
