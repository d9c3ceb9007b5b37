"""A SecretStore is no port scanner: one answer for every non-Vault server, and an egress list.

The attack (issue 9, item 2): `spec.provider.vault.server` reaches any address
the controller can, and the store's Ready condition (or a SecretSync's
ProviderError) used to tell a closed port, a TLS port, an HTTP server
answering 404 and one answering 400 apart. Here, on the real control plane,
with real servers on loopback only:

* those four read byte for byte the same, and the decoy HTTP servers saw the
  health probe only, never a token;
* with `--store-servers`, a server outside the list is refused with that
  same message before a connection is made, while the listed OpenBao works;
* the list is checked against the address a name resolves to: `localhost`
  reaches the listed OpenBao, and is refused on a port the list does not name;
* a store with Kubernetes auth at such a server gets no ServiceAccount token
  minted for it, let alone sent.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from secretloom.providers.egress import EgressPolicy
from secretloom.providers.vault import NOT_VAULT
from secretloom.runtime.kube import KubeClient
from secretloom.testing import cluster as local
from secretloom.testing.openbao import OpenBaoServer
from tests.e2e import kit
from tests.e2e import stores_kit as sk
from tests.openbao.support import unique

STORE_TOKEN = "s.decoy-canary-0123456789abcdef"  # what a decoy must never see


@dataclass
class Decoy:
    """A real HTTP server on loopback that is not Vault; it records what it was sent."""

    port: int
    requests: list[tuple[str, str, bool]] = field(default_factory=list)  # method, path, token?

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def decoy(status: int) -> Iterator[Decoy]:
    """An HTTP server answering every request with `status` and a small HTML page."""
    seen: list[tuple[str, str, bool]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            seen.append((self.command, self.path, "X-Vault-Token" in self.headers))
            body = b"<html><body>not vault</body></html>"
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = answer

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Decoy(server.server_address[1], seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def store_and_sync(kube: KubeClient, namespace: str, name: str, server: str) -> None:
    """A token-auth store at `server`, and a SecretSync (named like it) reading one value."""
    await sk.apply_store(kube, namespace, name, sk.vault(server))
    entry = {"key": sk.from_store(name, unique("app"), "key")}
    await kit.apply_sync(kube, namespace, name, sk.sync(f"{name}-target", entry))


async def untrusted(kube: KubeClient, namespace: str, name: str) -> None:
    """The store and its SecretSync say NOT_VAULT, and nothing else."""
    store = await sk.wait_store(kube, namespace, name, "False")
    assert sk.reason_and_message(store, "Ready") == ("Unavailable", NOT_VAULT)
    synced = await kit.wait_condition(kube, namespace, name, "ProviderError")
    assert sk.reason_and_message(synced, "ProviderError") == (
        "Unavailable",
        f"entry 'key': secretstore/{name}: {NOT_VAULT}",
    )


async def test_closed_tls_404_and_400_servers_read_the_same(
    kube: KubeClient, namespace: str, cluster: local.Cluster
) -> None:
    with decoy(404) as not_found, decoy(400) as bad_request:
        servers = {
            "closed": f"http://127.0.0.1:{closed_port()}",
            "tls": cluster.server,  # the kube-apiserver's own TLS port
            "not-found": not_found.url,
            "bad-request": bad_request.url,
        }
        async with sk.controller(kube, namespace):
            await sk.put_token(kube, namespace, STORE_TOKEN)
            for name, url in servers.items():
                await store_and_sync(kube, namespace, name, url)
            for name in servers:
                await untrusted(kube, namespace, name)
        for server in (not_found, bad_request):
            assert server.requests, "the decoy was never asked: the test proves nothing"
            assert {(method, path.split("?")[0]) for method, path, _ in server.requests} == {
                ("GET", "/v1/sys/health")
            }
            assert not any(token for _, _, token in server.requests)


async def test_no_service_account_token_is_minted_for_a_server_that_is_not_vault(
    kube: KubeClient, namespace: str, cluster: local.Cluster
) -> None:
    with decoy(404) as not_vault:
        async with sk.controller(kube, namespace):
            await sk.create_service_account(kube, namespace)
            minted = sk.token_requests(cluster)
            login = sk.kubernetes_login("kubernetes")
            await sk.apply_store(kube, namespace, "kube", sk.vault(not_vault.url, login))
            store = await sk.wait_store(kube, namespace, "kube", "False")
            assert sk.reason_and_message(store, "Ready") == ("Unavailable", NOT_VAULT)
            assert sk.token_requests(cluster) == minted
        assert {(m, p.split("?")[0], t) for m, p, t in not_vault.requests} == {
            ("GET", "/v1/sys/health", False)
        }


async def test_a_server_outside_store_servers_is_refused_before_connecting(
    kube: KubeClient, namespace: str, bao: OpenBaoServer, root: Any
) -> None:
    path = unique("app")
    sk.seed(root, path, key="listed")
    # Loopback on the OpenBao port only, written as a CIDR: addresses, not names, decide.
    policy = EgressPolicy.parse(f"127.0.0.0/8:{bao.port}")
    with decoy(200) as unlisted:
        async with sk.controller(kube, namespace, store_servers=policy):
            await sk.put_token(kube, namespace, bao.root_token)
            await store_and_sync(kube, namespace, "unlisted", unlisted.url)
            # A name the list does not mention, resolving to a listed address and port...
            by_name = f"http://localhost:{bao.port}"
            await sk.apply_store(kube, namespace, "by-name", sk.vault(by_name))
            entry = {"key": sk.from_store("by-name", path, "key")}
            await kit.apply_sync(kube, namespace, "by-name", sk.sync("by-name-target", entry))
            # ...and the same name on a port the list does not name.
            await store_and_sync(
                kube, namespace, "name-unlisted", f"http://localhost:{unlisted.port}"
            )

            await untrusted(kube, namespace, "unlisted")
            await untrusted(kube, namespace, "name-unlisted")
            await sk.wait_store(kube, namespace, "by-name")
            await kit.wait_condition(kube, namespace, "by-name", "Ready")
            target = await kit.get_secret(kube, namespace, "by-name-target")
            assert kit.values(target) == {"key": "listed"}
        assert unlisted.requests == []  # refused before a connection was made
