"""Scenario 5: SecretSyncs reading a real OpenBao server on a periodic refresh.

`vault_syncs` SecretSyncs read `vault_paths` KV v2 paths (one property each)
through one SecretStore with a token from a Secret, and refresh every
`vault_refresh_s`; the objects and phases are bench/refresh.py's. Provider
requests are counted from OpenBao's own audit log (reads of the benchmark
paths) over 1.25 refresh periods at rest; a change is a KV patch of one
property, which makes a new version of its whole path.
"""

from __future__ import annotations

from bench import refresh
from bench.record import Json
from bench.scenarios import Bench
from bench.workload import Layout
from secretloom.testing.openbao import OpenBaoServer

MOUNT, PREFIX = "secret", "bench"


async def run(bench: Bench) -> Json:
    found = refresh.support()
    if isinstance(found, str):
        bench.log(f"vault: not run: {found}")
        return {"status": f"not run: {found}"}
    p = bench.params
    paths = max(1, min(p.vault_paths, p.vault_syncs))
    properties = -(-p.vault_syncs // paths)

    def seed(server: OpenBaoServer) -> None:
        client = server.client()
        if f"{MOUNT}/" not in client.sys.list_mounted_secrets_engines()["data"]:
            client.sys.enable_secrets_engine(
                backend_type="kv", path=MOUNT, options={"version": "2"}
            )
        for j in range(paths):
            client.secrets.kv.v2.create_or_update_secret(
                path=f"{PREFIX}/p{j}",
                secret={f"k{k}": f"v-{j}-{k}-0" for k in range(properties)},
                mount_point=MOUNT,
            )

    with OpenBaoServer(
        work_dir=bench.scratch / "openbao", seed=seed, die_with_parent=True
    ) as bao:  # fmt: skip
        layout = Layout("bench-vault", p.vault_syncs, p.vault_syncs)

        def source(i: int) -> Json:
            j, prop = refresh.place(i, paths)
            return {"path": f"{PREFIX}/p{j}", "property": prop}

        provider = {
            "vault": {
                "server": bao.address,
                "path": MOUNT,
                "version": "v2",
                "auth": {"tokenSecretRef": {"name": "store-credentials", "key": "token"}},
            }
        }
        why = await refresh.create(
            bench,
            found,
            layout,
            refresh_s=p.vault_refresh_s,
            provider=provider,
            credentials={"token": bao.root_token},
            source=source,
        )
        if why is not None:
            return {"status": f"not run: {why}"}
        client = bao.client()

        def change(i: int, value: str) -> None:
            j, prop = refresh.place(i, paths)
            client.secrets.kv.v2.patch(
                path=f"{PREFIX}/p{j}", secret={prop: value}, mount_point=MOUNT
            )

        result = await refresh.measure(
            bench,
            "vault",
            layout,
            refresh_s=p.vault_refresh_s,
            changes=p.vault_changes,
            window_periods=1.25,
            reads=lambda: _reads(bao),
            change=change,
        )
        result["paths"] = paths
        return result


def _reads(bao: OpenBaoServer) -> int:
    return sum(
        1
        for entry in bao.audit_entries()
        if entry.get("type") == "request"
        and (entry.get("request") or {}).get("operation") == "read"
        and str((entry.get("request") or {}).get("path", "")).startswith(f"{MOUNT}/data/{PREFIX}/")
    )
