"""The store egress allow-list: parsing the operator's patterns, and matching connections."""

from __future__ import annotations

import pytest

from secretloom.providers.egress import EgressDenied, EgressPolicy


def permits(patterns: str, host: str, address: str, port: int = 8200) -> bool:
    return EgressPolicy.parse(patterns).permits(host=host, address=address, port=port)


def test_empty_is_unrestricted() -> None:
    texts: list[str | list[str]] = ["", " , ", []]
    for text in texts:
        policy = EgressPolicy.parse(text)
        assert policy.unrestricted
        assert policy.permits(host="anything", address="169.254.169.254", port=80)


def test_patterns_round_trip_normalised() -> None:
    text = (
        "Vault.Example.com., *.svc.cluster.local:8200, 10.0.0.0/8:443, 10.1.2.3, ::1, "
        "[fd00::/8]:8200"
    )
    assert str(EgressPolicy.parse(text)) == (
        "vault.example.com,*.svc.cluster.local:8200,10.0.0.0/8:443,10.1.2.3,::1,[fd00::/8]:8200"
    )
    assert EgressPolicy.parse(["a", "b:1"]) == EgressPolicy.parse("a,b:1")


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ("https://vault:8200", "not a URL"),
        ("vault:0", "port must be 1-65535"),
        ("vault:65536", "port must be 1-65535"),
        ("vault:http", "port must be 1-65535"),
        ("10.0.0.1/8", "has host bits set"),
        ("10.0.0.0/33", "10.0.0.0/33"),
        ("999.1.1.1", "999.1.1.1"),
        ("vault/path", "vault/path"),
        ("*", "expected a host name"),
        ("*.", "expected a host name"),
        ("a..b", "expected a host name"),
        ("-vault", "expected a host name"),
        ("[::1", "unbalanced"),
        ("[::1]x", "unbalanced"),
    ],
)
def test_bad_patterns_are_refused_by_name(entry: str, complaint: str) -> None:
    with pytest.raises(ValueError, match="store server pattern") as refused:
        EgressPolicy.parse(f"ok.example, {entry}")
    assert entry in str(refused.value)
    assert complaint in str(refused.value)


def test_host_names_match_exactly_case_and_trailing_dot_aside() -> None:
    assert permits("vault.example.com", "VAULT.example.com.", "203.0.113.7")
    assert not permits("vault.example.com", "evil-vault.example.com", "203.0.113.7")
    assert not permits("vault.example.com", "vault.example.com.evil.io", "203.0.113.7")


def test_wildcards_match_names_below_the_suffix_only() -> None:
    assert permits("*.vault.svc", "a.vault.svc", "10.0.0.1")
    assert permits("*.vault.svc", "a.b.vault.svc", "10.0.0.1")
    assert not permits("*.vault.svc", "vault.svc", "10.0.0.1")
    assert not permits("*.vault.svc", "avault.svc", "10.0.0.1")


def test_a_name_that_resolves_into_an_unlisted_range_is_refused() -> None:
    # The attacker's name is not listed, so the address it resolves to decides.
    assert permits("10.20.0.0/16", "vault.attacker.example", "10.20.3.4")
    assert not permits("10.20.0.0/16", "vault.attacker.example", "10.21.0.1")
    assert not permits("10.20.0.0/16", "localhost", "127.0.0.1")
    assert permits("127.0.0.0/8", "localhost", "127.0.0.1")


def test_ports_are_checked_where_a_pattern_names_one() -> None:
    assert permits("vault:8200", "vault", "10.0.0.1", 8200)
    assert not permits("vault:8200", "vault", "10.0.0.1", 8201)
    assert permits("127.0.0.1", "127.0.0.1", "127.0.0.1", 6443)
    assert not permits("127.0.0.1:8200", "127.0.0.1", "127.0.0.1", 6443)
    assert permits("[fd00::/8]:8200", "v6", "fd00::5", 8200)
    assert not permits("[fd00::/8]:8200", "v6", "fd00::5", 443)


def test_addresses_as_sockets_report_them() -> None:
    assert permits("fe80::/10", "link-local", "fe80::1%eth0")
    assert permits("10.0.0.0/8", "mapped", "::ffff:10.1.2.3")
    assert not permits("fd00::/8", "v4", "10.1.2.3")
    assert not permits("10.0.0.0/8", "not-an-address", "vault")


def test_allowed_filters_resolved_addresses_or_refuses_naming_them() -> None:
    policy = EgressPolicy.parse("127.0.0.1")
    assert policy.allowed(host="localhost", addresses=["::1", "127.0.0.1"], port=1) == ["127.0.0.1"]
    with pytest.raises(EgressDenied) as denied:
        policy.allowed(host="localhost", addresses=["::1"], port=1)
    assert str(denied.value) == (
        "localhost port 1 (resolved to ::1) is not allowed by --store-servers (127.0.0.1)"
    )
