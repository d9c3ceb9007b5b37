"""Every refusal of the target apply is a condition and an Event (issue 10), never silence.

Before, any answer but 409 to the target apply escaped the reconcile: the
status kept saying whatever it said before (or nothing), no Event, a retry
log line at most. Now it is `Ready=False`, reason `ApplyFailed`, with the API
server's own message (it names the field and the limit, never a value), a
Warning Event, and retries with a growing backoff until the cause goes away.
"""

from __future__ import annotations

import base64
import json

from secretloom.runtime.kube import KubeClient
from tests.e2e import kit

TARGET = "app-secret"
BIG = "x" * (600 * 1024)  # two of these exceed a Secret's 1 MiB


def leaked(obj: object) -> bool:
    text = json.dumps(obj)
    return BIG[:4096] in text or base64.b64encode(BIG.encode()).decode()[:4096] in text


async def warnings(kube: KubeClient, namespace: str, name: str) -> list[str]:
    events = await kit.events_for(kube, namespace, name)
    return [e["note"] for e in events if e["reason"] == "ApplyFailed" and e["type"] == "Warning"]


async def test_two_large_sources_over_the_size_limit_are_apply_failed_then_recover(
    kube: KubeClient, namespace: str
) -> None:
    async with kit.controller(kube, namespace):
        await kit.put_secret(kube, namespace, "a", {"v": BIG}, manager="team")
        await kit.put_secret(kube, namespace, "b", {"v": BIG}, manager="team")
        await kit.apply_sync(kube, namespace, "first", kit.sync_spec(TARGET, {"a": ("a", "v")}))
        await kit.wait_condition(kube, namespace, "first", "Ready")
        await kit.apply_sync(kube, namespace, "second", kit.sync_spec(TARGET, {"b": ("b", "v")}))

        failed = await kit.wait_condition(
            kube, namespace, "second", "Ready", "False", reason="ApplyFailed"
        )
        message = kit.condition(failed, "Ready")["message"]
        assert message.startswith("the API server refused the apply: 422")
        assert "Too long" in message and "1048576" in message, message
        (key,) = failed["status"]["keys"]
        assert key["key"] == "b" and key["state"] == "Error"
        assert "sourceVersion" not in key  # never synced: nothing to vouch for

        async def warned() -> bool:
            return bool(await warnings(kube, namespace, "second"))

        await kit.eventually(warned)
        notes = await warnings(kube, namespace, "second")
        assert "'app-secret' was not written" in notes[0] and "Too long" in notes[0]
        assert not leaked(failed) and not leaked(notes)
        assert set(kit.values(await kit.get_secret(kube, namespace, TARGET))) == {"a"}

        await kit.put_secret(kube, namespace, "b", {"v": "small"}, manager="team")
        await kit.wait_condition(kube, namespace, "second", "Ready", timeout=15)
        target = await kit.get_secret(kube, namespace, TARGET)
        assert kit.values(target)["b"] == "small"


async def test_an_immutable_target_is_apply_failed(kube: KubeClient, namespace: str) -> None:
    async with kit.controller(kube, namespace):
        await kit.put_secret(kube, namespace, "src", {"k": "v"}, manager="team")
        frozen = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": TARGET, "namespace": namespace},
            "immutable": True,
            "data": {"other": kit.b64("theirs")},
        }
        await kube.create(f"/api/v1/namespaces/{namespace}/secrets", frozen)
        await kit.apply_sync(kube, namespace, "sync", kit.sync_spec(TARGET, {"k": ("src", "k")}))
        failed = await kit.wait_condition(
            kube, namespace, "sync", "Ready", "False", reason="ApplyFailed"
        )
        assert "immutable" in kit.condition(failed, "Ready")["message"]
        assert kit.values(await kit.get_secret(kube, namespace, TARGET)) == {"other": "theirs"}
