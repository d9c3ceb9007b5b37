"""Which sealing keys the controller holds, and when it needs a new one: pure rules.

A key Secret is one of ours (`secretloom.io/sealing-key`) or imported from a
Bitnami controller (`sealedsecrets.bitnami.com/sealed-secrets-key`); either
label's value is `active` or `compromised`. Every key that parses opens
ciphertexts, compromised ones too: sealing needs only the public key, so an
attacker gains nothing from us refusing, while refusing would stop old
ciphertexts from opening at all. Only our newest key seals (its certificate
is the published one), and a new key is made when that key is older than the
renewal period, when it is labelled compromised, or when there is none.

Keys are ordered by the time they were made (our annotation, else the
Secret's creationTimestamp). A Secret that does not parse is skipped and named
(`problems`), never quoted.
"""

from __future__ import annotations

import base64
import binascii
import datetime
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa

from secretloom import seal
from secretloom.api import sealing as api
from secretloom.runtime.kube import Obj

CREATED_ANNOTATION = "secretloom.io/sealing-key-created"


@dataclass(frozen=True)
class SealingKey:
    name: str
    created: datetime.datetime
    private: rsa.RSAPrivateKey
    cert_pem: bytes
    compromised: bool
    imported: bool


def _time(text: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _decoded(data: dict[str, str], key: str) -> bytes:
    try:
        return base64.b64decode(data.get(key, ""), validate=True)
    except (binascii.Error, ValueError):
        raise seal.KeyFormatError(f"{key} is not base64") from None


def parse(obj: Obj) -> SealingKey:
    """The key a Secret holds; `seal.KeyFormatError` says what is wrong with it."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    ours = labels.get(api.KEY_LABEL)
    state = ours if ours is not None else labels.get(api.BITNAMI_KEY_LABEL)
    data = obj.get("data") or {}
    private = seal.load_private_key(_decoded(data, "tls.key"))
    cert_pem = _decoded(data, "tls.crt")
    if not seal.matches(private, cert_pem):
        raise seal.KeyFormatError("tls.crt does not carry tls.key's public key")
    created = _time((meta.get("annotations") or {}).get(CREATED_ANNOTATION, "")) or _time(
        meta.get("creationTimestamp", "")
    )
    return SealingKey(
        name=meta.get("name", ""),
        created=created or datetime.datetime.min.replace(tzinfo=datetime.UTC),
        private=private,
        cert_pem=cert_pem,
        compromised=state == api.COMPROMISED,
        imported=ours is None,
    )


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[SealingKey, ...] = ()  # newest first
    problems: tuple[str, ...] = ()  # "name: what is wrong", never content

    @classmethod
    def of(cls, secrets: list[Obj]) -> KeyRing:
        keys, problems = [], []
        for obj in secrets:
            try:
                keys.append(parse(obj))
            except seal.KeyFormatError as err:
                problems.append(f"{(obj.get('metadata') or {}).get('name', '?')}: {err}")
        keys.sort(key=lambda k: (k.created, k.name), reverse=True)
        return cls(tuple(keys), tuple(problems))

    def private_keys(self) -> list[rsa.RSAPrivateKey]:
        return [k.private for k in self.keys]

    def current(self) -> SealingKey | None:
        """Our newest key, the one whose certificate is published."""
        return next((k for k in self.keys if not k.imported), None)

    def names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)


def renewal_reason(ring: KeyRing, now: datetime.datetime, period: float) -> str | None:
    """Why a new key is needed now, or None. `period` in seconds; 0 renews never by age."""
    current = ring.current()
    if current is None:
        return "no sealing key of our own yet"
    if current.compromised:
        return f"the newest key {current.name} is labelled compromised"
    if period and (now - current.created).total_seconds() >= period:
        return f"the newest key {current.name} is older than the renewal period"
    return None
