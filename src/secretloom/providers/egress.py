"""The operator's egress allow-list for store servers (`--store-servers`).

A store's `server` is written by whoever may create a SecretStore, yet the
controller is the one that connects, from inside the cluster, with its own
network position. Without a limit a tenant can point a store at any address
the controller reaches and read the answers back from status conditions: the
server-side request forgery class (CWE-918) that every "fetch a URL named in a
custom resource" controller meets. The operator therefore lists where stores
may live; a store anywhere else is refused before a single byte is sent.

Patterns, comma-separated, each optionally followed by `:port`:

* `vault.example.com`: that host name, as written in the store's URL;
* `*.vault.svc.cluster.local`: any name below that suffix (not the suffix
  itself);
* `10.20.0.5`, `10.20.0.0/16`, `fd00::/8` (`[fd00::/8]:8200` with a port): the
  address the controller actually connects to.

A connection is allowed when the URL's host name matches a name pattern, or
the address it connects to matches an address pattern (ports checked where a
pattern names one). Address patterns are checked against the address the
socket connects to, after resolution, so a tenant's DNS name that resolves
(or re-binds) into a range the operator did not list is refused; a name
pattern trusts DNS for that name, which the operator controls. An empty
policy allows everything: the controller says so in a warning at start.

This module is pure (parsing and matching only); the transports enforce it at
connect time (`providers/transport.py` for requests-based clients), and every
provider receives the policy in its `ProviderContext`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


class EgressDenied(Exception):
    """A connection the policy refuses; the message names the host, addresses and port."""


@dataclass(frozen=True, slots=True)
class Pattern:
    """One allow-list entry: a host name, a `*.suffix`, or a network; optionally a port."""

    name: str | None = None  # a lower-case host name, or the suffix after "*."
    wildcard: bool = False
    network: IPNetwork | None = None
    port: int | None = None

    def matches(self, host: str, address: IPAddress | None, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return address is not None and address in self.network
        if self.wildcard:
            return host.endswith(f".{self.name}")
        return host == self.name

    def __str__(self) -> str:
        if self.network is not None:
            text = str(self.network)
            if self.network.num_addresses == 1:
                text = str(self.network.network_address)
            if self.port is not None and self.network.version == 6:
                return f"[{text}]:{self.port}"
        else:
            text = f"*.{self.name}" if self.wildcard else str(self.name)
        return text if self.port is None else f"{text}:{self.port}"


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """Where store clients may connect; no patterns means anywhere."""

    patterns: tuple[Pattern, ...] = ()

    @classmethod
    def parse(cls, text: str | Sequence[str]) -> EgressPolicy:
        """From `a,b:8200,*.c,10.0.0.0/8`; raises ValueError naming the bad entry."""
        items = [text] if isinstance(text, str) else list(text)
        entries = [e.strip() for item in items for e in item.split(",")]
        return cls(tuple(_pattern(entry) for entry in entries if entry))

    @property
    def unrestricted(self) -> bool:
        return not self.patterns

    def permits(self, *, host: str, address: str, port: int) -> bool:
        """Whether connecting to `address`:`port` for the URL host `host` is allowed."""
        if self.unrestricted:
            return True
        name = _host(host)
        ip = _address(address)
        return any(p.matches(name, ip, port) for p in self.patterns)

    def allowed(self, *, host: str, addresses: Iterable[str], port: int) -> list[str]:
        """The addresses `host` resolved to that may be connected to, in order.

        Raises `EgressDenied` when none may: the caller then connects nowhere.
        """
        resolved = list(addresses)
        chosen = [a for a in resolved if self.permits(host=host, address=a, port=port)]
        if not chosen:
            shown = ", ".join(resolved) or "no address"
            raise EgressDenied(
                f"{host} port {port} (resolved to {shown}) is not allowed by --store-servers "
                f"({self})"
            )
        return chosen

    def __str__(self) -> str:
        return ",".join(map(str, self.patterns)) or "unrestricted"


def _pattern(entry: str) -> Pattern:
    if "://" in entry:
        raise ValueError(f"store server pattern {entry!r}: give a host and port, not a URL")
    host, port = _split_port(entry)
    if "/" in host or ":" in host or re.fullmatch(r"[0-9.]+", host):
        try:
            network = ipaddress.ip_network(host, strict=True)
        except ValueError as err:
            raise ValueError(f"store server pattern {entry!r}: {err}") from None
        return Pattern(network=network, port=port)
    name = host.lower().rstrip(".")
    wildcard = name.startswith("*.")
    if wildcard:
        name = name[2:]
    if not name or not all(_LABEL.match(label) for label in name.split(".")):
        raise ValueError(
            f"store server pattern {entry!r}: expected a host name, *.suffix, IP or CIDR"
        )
    return Pattern(name=name, wildcard=wildcard, port=port)


def _split_port(entry: str) -> tuple[str, int | None]:
    """`host[:port]`, `[v6]:port`; a bare IPv6 address (several colons) has no port."""
    if entry.startswith("["):
        host, sep, rest = entry[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"store server pattern {entry!r}: unbalanced [ ]")
        return host, _port(entry, rest[1:]) if rest else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, _port(entry, port)
    return entry, None


def _port(entry: str, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"store server pattern {entry!r}: port must be 1-65535")
    return int(text)


def _host(host: str) -> str:
    return host.strip("[]").lower().rstrip(".")


def _address(address: str) -> IPAddress | None:
    """An address as the socket sees it; IPv4-mapped IPv6 compared as IPv4."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip
