"""Normal Events share a rate budget; Warnings do not (runtime/events.py, issue 17).

On the real API server: what arrives is listed back from events.k8s.io.
"""

from __future__ import annotations

from typing import Any

from secretloom.runtime import metrics
from secretloom.runtime.events import EventRecorder
from secretloom.runtime.kube import KubeClient
from secretloom.runtime.resources import EVENTS


def regarding(namespace: str, i: int) -> dict[str, Any]:
    meta = {"name": f"s{i}", "namespace": namespace, "uid": f"u{i}"}
    return {"apiVersion": "secretloom.io/v1alpha1", "kind": "SecretSync", "metadata": meta}


async def test_normal_events_beyond_the_burst_are_dropped_and_counted_warnings_are_not(
    kube: KubeClient, namespace: str
) -> None:
    events = EventRecorder(kube, "budget-test", normal_qps=0.001, normal_burst=3)
    dropped = metrics.EVENTS_DROPPED.labels("Normal")
    before = dropped._value.get()
    for i in range(10):
        events.emit(regarding(namespace, i), "Synced", f"updated key(s) ['k{i}']")
        events.emit(regarding(namespace, i), "Conflict", f"key k{i} is held", warning=True)
    await events.close()
    items, _ = await kube.list(EVENTS.path(namespace))
    assert sorted(e["type"] for e in items).count("Normal") == 3
    assert sorted(e["type"] for e in items).count("Warning") == 10
    assert dropped._value.get() - before == 7


async def test_a_budget_of_zero_sends_no_normal_events_and_every_warning(
    kube: KubeClient, namespace: str
) -> None:
    events = EventRecorder(kube, "budget-off", normal_qps=0)
    for i in range(5):
        events.emit(regarding(namespace, i), "Synced", f"updated key(s) ['k{i}']")
        events.emit(regarding(namespace, i), "Conflict", f"key k{i} is held", warning=True)
    await events.close()
    items, _ = await kube.list(EVENTS.path(namespace))
    assert sorted(e["type"] for e in items) == ["Warning"] * 5


async def test_the_default_budget_lets_ten_seconds_of_normal_events_through_at_once(
    kube: KubeClient, namespace: str
) -> None:
    events = EventRecorder(kube, "budget-default")  # 1/s, burst 10
    for i in range(15):
        events.emit(regarding(namespace, i), "Synced", f"updated key(s) ['k{i}']")
    await events.close()
    items, _ = await kube.list(EVENTS.path(namespace))
    assert len(items) in (10, 11)  # the burst, and at most one token refilled meanwhile
