"""Install CustomResourceDefinitions with server-side apply and wait until served.

Applying (not creating) makes installation idempotent and upgrades in place;
waiting for `Established` means the caller can use the kind right away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from secretloom.runtime.kube import CRDS, KubeClient, Obj

FIELD_MANAGER = "secretloom-install"


async def install(client: KubeClient, definitions: Iterable[Obj], timeout: float = 30.0) -> None:
    names = []
    for crd in definitions:
        name = crd["metadata"]["name"]
        await client.apply(CRDS.path(name=name), crd, field_manager=FIELD_MANAGER, force=True)
        names.append(name)
    async with asyncio.timeout(timeout):
        for name in names:
            while not _established(await client.get(CRDS.path(name=name))):
                await asyncio.sleep(0.1)


def _established(crd: Obj) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
