"""The `sops` section: master keys, key groups, encryption rules, MAC.

Mirrors sops's stores.Metadata.ToInternal: one top-level key list is one key
group; `key_groups` lists several, whose data-key parts are Shamir shares.
At most one of the four key-selection rules may be set; with none,
`unencrypted_suffix` defaults to `_unencrypted`. Key types we cannot use
(cloud KMS, Vault transit) are kept so errors can name them.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

from secretloom.sops import gotext
from secretloom.sops.errors import FormatError, shown

DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"
_OTHER_KEY_TYPES = {
    "kms": "arn",
    "gcp_kms": "resource_id",
    "azure_kv": "name",
    "hc_vault": "key_name",
}


@dataclass(frozen=True, slots=True)
class MasterKey:
    """One encrypted copy of the data key (or of a Shamir share of it)."""

    kind: str  # "age", "pgp", "kms", or a type we cannot decrypt
    name: str  # recipient, fingerprint, ARN...: safe to print
    enc: str
    # AWS KMS only: the encryption context, and the role to assume first (sops's `role`).
    context: tuple[tuple[str, str], ...] = ()
    role: str = ""


@dataclass(frozen=True, slots=True)
class Rules:
    unencrypted_suffix: str = ""
    encrypted_suffix: str = ""
    unencrypted_regex: re.Pattern[str] | None = None
    encrypted_regex: re.Pattern[str] | None = None
    unencrypted_comment_regex: re.Pattern[str] | None = None
    encrypted_comment_regex: re.Pattern[str] | None = None
    mac_only_encrypted: bool = False


@dataclass(frozen=True, slots=True)
class Metadata:
    key_groups: tuple[tuple[MasterKey, ...], ...]
    shamir_threshold: int
    mac: str
    mac_aad: str  # lastmodified, re-rendered as Go's time.RFC3339
    rules: Rules
    version: str


def parse(raw: dict[str, Any]) -> Metadata:
    groups = _key_groups(raw)
    rules = _rules(raw)
    lastmodified = gotext.parse_time(str(raw.get("lastmodified", "")))
    if lastmodified is None:
        raise FormatError("sops metadata has no valid `lastmodified`")
    mac = raw.get("mac")
    if not isinstance(mac, str) or not mac:
        raise FormatError("sops metadata has no `mac`")
    return Metadata(
        key_groups=groups,
        shamir_threshold=_threshold(raw.get("shamir_threshold")),
        mac=mac,
        mac_aad=gotext.format_rfc3339(lastmodified[0]),
        rules=rules,
        version=str(raw.get("version", "")),
    )


def _threshold(value: Any) -> int:
    """A count as YAML (int), JSON (float64) or dotenv (text) gives it."""
    if value is None or value == "":
        return 0
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,9}", value):
        return int(value)
    countable = isinstance(value, int | float) and not isinstance(value, bool)
    if countable and 0 <= value < 2**31 and value == int(value):
        return int(value)
    raise FormatError("sops metadata `shamir_threshold` is not an integer")


def _key_groups(raw: dict[str, Any]) -> tuple[tuple[MasterKey, ...], ...]:
    top = _group(raw)
    if top:
        return (top,)
    groups = tuple(_group(g) for g in _entries(raw, "key_groups"))
    if not groups:
        raise FormatError("sops metadata lists no master keys")
    return groups


def _entries(raw: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The mappings listed under `name`; anything else there is ignored."""
    listed = raw.get(name)
    return [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else []


def _group(raw: dict[str, Any]) -> tuple[MasterKey, ...]:
    keys = []
    for kind, name_field in (("age", "recipient"), ("pgp", "fp"), *_OTHER_KEY_TYPES.items()):
        for entry in _entries(raw, kind):
            name = shown(str(entry.get(name_field, "?")))  # errors print it: one line
            context = entry.get("context") if kind == "kms" else None
            keys.append(
                MasterKey(
                    kind,
                    name,
                    str(entry.get("enc", "")),
                    tuple(sorted((str(k), str(v)) for k, v in (context or {}).items()))
                    if isinstance(context, dict)
                    else (),
                    str(entry.get("role") or "") if kind == "kms" else "",
                )
            )
    return tuple(keys)


def _rules(raw: dict[str, Any]) -> Rules:
    selectors = ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex")
    chosen = [name for name in selectors if raw.get(name)]
    if len(chosen) > 1:
        raise FormatError(f"sops metadata sets more than one of {', '.join(selectors)}")
    return Rules(
        unencrypted_suffix=str(raw.get("unencrypted_suffix") or "")
        or ("" if chosen else DEFAULT_UNENCRYPTED_SUFFIX),
        encrypted_suffix=str(raw.get("encrypted_suffix") or ""),
        unencrypted_regex=_regex(raw, "unencrypted_regex"),
        encrypted_regex=_regex(raw, "encrypted_regex"),
        unencrypted_comment_regex=_regex(raw, "unencrypted_comment_regex"),
        encrypted_comment_regex=_regex(raw, "encrypted_comment_regex"),
        mac_only_encrypted=str(raw.get("mac_only_encrypted", "")).lower() == "true",
    )


def _regex(raw: dict[str, Any], name: str) -> re.Pattern[str] | None:
    pattern = raw.get(name)
    if not pattern:
        return None
    try:
        with warnings.catch_warnings():  # a FutureWarning would be a second line on stderr
            warnings.simplefilter("ignore")
            return re.compile(str(pattern))
    except (re.error, RecursionError, OverflowError):  # sre's parser recurses per group
        raise FormatError(f"sops metadata `{name}` is not a valid regular expression") from None
