"""The Vault variant of the Argo CD Notifications example, exactly as `make demo` runs it."""

from __future__ import annotations

from secretloom.runtime.kube import KubeClient
from secretloom.testing import vault_example
from secretloom.testing.openbao import OpenBaoServer
from tests.e2e import kit


async def test_the_vault_example_composes_and_rotates(
    kube: KubeClient, namespace: str, bao: OpenBaoServer
) -> None:
    vault_example.seed(bao)
    await vault_example.install(kube, bao, namespace)
    lines: list[str] = []
    async with kit.controller(kube, namespace):
        await vault_example.scenario(kube, bao, namespace, echo=lines.append, timeout=20)
    owners = {
        "grafana-api-key": "grafana-token",
        "gitlab-token": "gitlab-token",
        "slack-token": "slack-token",
    }
    for key, sync in owners.items():
        assert f"  {key:<16} <- secretloom/{namespace}/{sync}" in lines
    assert lines[-1] == "  grafana-api-key updated; the other keys were not touched"
    target = await kit.get_secret(kube, namespace, vault_example.TARGET)
    assert target is not None
    assert kit.owners(target)["helm"] == set()
