"""Scenario 8: SecretSyncs reading AWS Secrets Manager (moto) on a periodic refresh (issue 16).

Issue 16 asks for the provider calls per minute of 1,000 SecretSyncs on 100
secrets at a 60 s refresh, and names the goal: one read per distinct secret
per interval, because SecretSyncs that name the same secret share one read
(controllers/secretsync/shared.py; Secrets Manager answers a property from
one GetSecretValue of the whole secret).

`aws_syncs` SecretSyncs read `aws_secrets` JSON secrets (one property each)
through one SecretStore with static keys from a Secret, on moto in server
mode (`secretloom.testing.moto`, the emulator the AWS tests use), and refresh
every `aws_refresh_s`; the objects and phases are bench/refresh.py's. Calls
are GetSecretValue requests counted from moto's own request recorder. A
change is a PutSecretValue of the whole secret with one property changed.

The window at rest is 2.2 refresh periods, not the Vault scenario's 1.25:
SecretSyncs created together refresh in one burst a period for a while (the
10 % jitter spreads them slowly), and a window of 1.25 periods holds one or
two bursts by chance, so its per-minute figure is 0.8x or 1.6x the rate. In
2.2 periods (bursts at least 0.9 of a period apart) it holds two or three, an
error of at most a third of a round instead of four fifths.
"""

from __future__ import annotations

import json

from bench import refresh
from bench.record import Json
from bench.scenarios import Bench
from bench.workload import Layout
from secretloom.testing.moto import ACCESS_KEY, REGION, SECRET_KEY, MotoServer

PREFIX = "bench/s"
WINDOW_PERIODS = 2.2


async def run(bench: Bench) -> Json:
    found = refresh.support()
    if isinstance(found, str):
        bench.log(f"aws: not run: {found}")
        return {"status": f"not run: {found}"}
    p = bench.params
    secrets = max(1, min(p.aws_secrets, p.aws_syncs))
    properties = -(-p.aws_syncs // secrets)
    values = {
        f"{PREFIX}{j:03d}": {f"k{k}": f"v-{j}-{k}-0" for k in range(properties)}
        for j in range(secrets)
    }

    def seed(server: MotoServer) -> None:
        client = server.client("secretsmanager")
        for name, data in values.items():
            client.create_secret(Name=name, SecretString=json.dumps(data))

    with MotoServer(work_dir=bench.scratch / "moto", seed=seed, die_with_parent=True) as moto:
        layout = Layout("bench-aws", p.aws_syncs, p.aws_syncs)

        def secret(i: int) -> tuple[str, str]:
            j, prop = refresh.place(i, secrets)
            return f"{PREFIX}{j:03d}", prop

        def source(i: int) -> Json:
            name, prop = secret(i)
            return {"path": name, "property": prop}

        keys = {
            "accessKeyIDSecretRef": {"name": "store-credentials", "key": "id"},
            "secretAccessKeySecretRef": {"name": "store-credentials", "key": "secret"},
        }
        provider = {
            "awsSecretsManager": {
                "region": REGION,
                "endpoint": moto.address,
                "auth": {"secretRef": keys},
            }
        }
        why = await refresh.create(
            bench,
            found,
            layout,
            refresh_s=p.aws_refresh_s,
            provider=provider,
            credentials={"id": ACCESS_KEY, "secret": SECRET_KEY},
            source=source,
        )
        if why is not None:
            return {"status": f"not run: {why}"}
        client = moto.client("secretsmanager")

        def change(i: int, value: str) -> None:
            name, prop = secret(i)
            values[name][prop] = value
            client.put_secret_value(SecretId=name, SecretString=json.dumps(values[name]))

        result = await refresh.measure(
            bench,
            "aws",
            layout,
            refresh_s=p.aws_refresh_s,
            changes=p.aws_changes,
            window_periods=WINDOW_PERIODS,
            reads=lambda: moto.calls("GetSecretValue", containing=PREFIX),
            change=change,
        )
        result["secrets"] = secrets
        return result
