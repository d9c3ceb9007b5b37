"""Real OpenBao servers for the store tests, next to the session's real control plane.

The servers are the OpenBao tests' own fixtures (`tests/openbao/conftest.py`),
re-exported here so the controller's end-to-end tests run against the same
kind of server, started lazily by the first test that asks and restarted
(empty, then seeded with the KV mounts) after a test kills or seals it. The
root token is a canary there and here.
"""

from __future__ import annotations

from tests.openbao.conftest import (
    ROOT_TOKEN_CANARY,
    bao,
    bao_session,
    bao_tls,
    bao_tls_session,
    postgres,
    root,
)

__all__ = [
    "ROOT_TOKEN_CANARY",
    "bao",
    "bao_session",
    "bao_tls",
    "bao_tls_session",
    "postgres",
    "root",
]
