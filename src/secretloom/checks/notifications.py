"""Will Argo CD Notifications find every `$key` its services reference?

Argo CD Notifications (argoproj/notifications-engine, `pkg/api/config.go`)
reads `argocd-notifications-cm` and `argocd-notifications-secret`. For every
ConfigMap key `service.<type>` or `service.<type>.<name>` (any other number of
dots is an error) it parses the value as one YAML document, walks every node
(mapping keys included) and, in each scalar whose resolved tag is `!!str`,
replaces every match of `[$][\\w-]+` (Go's `\\w`: ASCII letters, digits and
`_`) with the Secret's value for the key after the `$`; a key the Secret lacks
is left as written, with only a log warning. Templates and triggers are not
expanded. This module reproduces exactly that walk (PyYAML's composer gives
the same node tree and tags for the scalars that can hold a `$`) and reports,
instead of a warning:

* every reference and where it resolves: the Secret holds the key, or a
  SecretSync targeting the Secret declares it (`data[].key`);
* every reference that will not resolve, with the SecretSync that would
  provide it if one declares it but the Secret does not hold it yet (checking
  a live cluster) or a SecretSync's `dataFrom` that might (its keys are known
  only after a read);
* every key of the Secret, or declared by a SecretSync, that no service uses.

Values are never read out: only key names go into a finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import yaml

from secretloom.api import secretsync as api

# notifications-engine: regexp.MustCompile(`[$][\w-]+`); Go's \w is ASCII-only.
KEY_PATTERN = re.compile(r"[$][0-9A-Za-z_-]+")
_STR = "tag:yaml.org,2002:str"


@dataclass(frozen=True, slots=True)
class Provider:
    """A SecretSync writing into the notifications Secret."""

    namespace: str
    name: str
    spec: api.SecretSyncSpec
    ready: str = ""  # e.g. "False (SourceMissing)", when read from a cluster

    @property
    def label(self) -> str:
        return f"SecretSync {self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Reference:
    key: str
    service: str  # the ConfigMap key, e.g. service.webhook.gitlab
    resolved_by: str = ""  # "" when it will not resolve
    hint: str = ""  # why not, and who could provide it


@dataclass
class Report:
    references: list[Reference] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # services Argo CD would refuse

    @property
    def missing(self) -> list[Reference]:
        return [r for r in self.references if not r.resolved_by]


def references(text: str) -> Iterator[str]:
    """The keys a service's configuration references, as the engine's walk finds them."""
    node = yaml.compose(text)
    if node is None:
        return
    stack: list[yaml.Node] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.ScalarNode):
            if current.tag == _STR:
                yield from (m[1:] for m in KEY_PATTERN.findall(current.value))
        elif isinstance(current, yaml.MappingNode):
            for key, value in reversed(current.value):
                stack += [value, key]
        elif isinstance(current, yaml.SequenceNode):
            stack += reversed(current.value)


def check(
    configmap: Mapping[str, str],
    secret_keys: Mapping[str, str] | None,
    providers: Sequence[Provider],
    *,
    secret_name: str,
    live: bool,
) -> Report:
    """`secret_keys`: key -> owner (None: no Secret given); `live`: read from a cluster now."""
    report = Report()
    held = dict(secret_keys or {})
    declared: dict[str, Provider] = {}
    for provider in providers:
        for entry in provider.spec.data:
            declared.setdefault(entry.key, provider)
    used: set[str] = set()
    for name in sorted(k for k in configmap if k.startswith("service.")):
        if len(name.split(".")) not in (2, 3):
            report.errors.append(f"{name}: invalid service key; expected 'service.<type>(.<name>)'")
            continue
        try:
            keys = list(dict.fromkeys(references(str(configmap[name]))))
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            report.errors.append(f"{name}: not valid YAML{where}; Argo CD refuses the service")
            continue
        for key in keys:
            used.add(key)
            report.references.append(_resolve(key, name, held, declared, providers, secret_name,
                                              live=live))  # fmt: skip
    for key in sorted((set(held) | set(declared)) - used):
        where = f"owner {held[key]}" if key in held else declared[key].label
        report.unused.append(f"{key} ({where})")
    return report


def _resolve(
    key: str,
    service: str,
    held: Mapping[str, str],
    declared: Mapping[str, Provider],
    providers: Sequence[Provider],
    secret_name: str,
    *,
    live: bool,
) -> Reference:
    provider = declared.get(key)
    if key in held:
        return Reference(key, service, f"Secret {secret_name} (owner {held[key]})")
    if provider is not None and not live:
        return Reference(key, service, provider.label)
    if provider is not None:
        state = f", Ready={provider.ready}" if provider.ready else ""
        return Reference(
            key, service,
            hint=f"{provider.label} provides it, but the Secret does not hold it yet{state}",
        )  # fmt: skip
    maybe = [
        f"{p.label} (dataFrom {e.describe()}, prefix {e.prefix!r})"
        for p in providers
        for e in p.spec.data_from
        if key.startswith(e.prefix)
    ]
    if maybe:
        return Reference(
            key, service,
            hint="not declared; may come from " + "; ".join(maybe)
            + " (dataFrom keys are known only after a read: list the key in data to check it)",
        )  # fmt: skip
    return Reference(
        key, service, hint=f"no key {key!r} in Secret {secret_name} and no SecretSync declares it"
    )
