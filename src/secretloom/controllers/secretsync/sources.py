"""Reading the values a SecretSync's entries point at.

Every read is pinned to the SecretSync's own namespace: an entry naming another
namespace is refused before any read is attempted (ESO CVE-2026-42875 class).
Kubernetes sources are read from the informer cache; a Secret whose data was
not cached (it was unreferenced when it arrived) is fetched once and cached
from then on. Messages name Secrets and keys, never values.
"""

from __future__ import annotations

from secretloom.api import secretsync as api
from secretloom.controllers.secretsync.naming import version_hash
from secretloom.controllers.secretsync.plan import Resolved
from secretloom.runtime.kube import Obj
from secretloom.runtime.secrets import SecretCache


def describe(source: api.Source) -> str:
    if source.secret is not None:
        return f"secret/{source.secret}#{source.key}"
    store = source.store
    kind = store.kind if store else "SecretStore"
    name = store.name if store else "?"
    return f"{kind.lower()}/{name}:{source.path}#{source.property}"


async def resolve(entry: api.DataEntry, namespace: str, secrets: SecretCache) -> Resolved:
    source = entry.from_
    label = describe(source)
    if source.namespace and source.namespace != namespace:
        return Resolved(
            entry.key,
            label,
            reason="InvalidReference",
            message=(
                f"entry {entry.key!r}: from.namespace {source.namespace!r} is not allowed; "
                f"a SecretSync reads only from its own namespace {namespace!r}"
            ),
        )
    if source.secret is None:
        return Resolved(
            entry.key,
            label,
            reason="InvalidReference",
            message=f"entry {entry.key!r}: from.store is not supported by this controller",
        )
    secret = await secrets.get_with_data(namespace, source.secret)
    return from_secret(entry.key, label, secret, source.secret, source.key or "")


def from_secret(key: str, label: str, secret: Obj | None, name: str, source_key: str) -> Resolved:
    if secret is None:
        return Resolved(key, label, reason="SourceMissing", message=f"Secret {name!r} not found")
    value = (secret.get("data") or {}).get(source_key)
    if value is None:
        return Resolved(
            key,
            label,
            reason="SourceMissing",
            message=f"key {source_key!r} not found in Secret {name!r}",
        )
    meta = secret["metadata"]
    return Resolved(
        key, label, value=value, version=version_hash(meta["uid"], meta["resourceVersion"])
    )
