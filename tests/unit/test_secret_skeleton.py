"""An unreferenced Secret is cached as a Skeleton that reads like the dict it replaced."""

from __future__ import annotations

from typing import cast

from secretloom.runtime.cache import Cache
from secretloom.runtime.informer import object_key
from secretloom.runtime.kube import KubeClient, Obj
from secretloom.runtime.resources import SECRETS
from secretloom.runtime.secrets import STRIPPED, SecretCache, Skeleton


def _secret(name: str, version: str) -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": "u",
            "resourceVersion": version,
            "labels": {"a": "b"},
            "managedFields": [{"manager": "m"}],
        },
        "data": {"k": "dmFsdWU="},
        "type": "Opaque",
    }


def test_an_unreferenced_secret_keeps_its_key_and_version_and_nothing_else() -> None:
    secrets = SecretCache(cast(KubeClient, None), ["ns"], lambda key: key == ("ns", "used"))
    skeleton = secrets.cache._informers["ns"]._transform(_secret("other", "5"))
    assert isinstance(skeleton, Skeleton)
    assert dict(skeleton) == {
        "metadata": {"name": "other", "namespace": "ns", "resourceVersion": "5"},
        STRIPPED: True,
    }
    assert "data" not in skeleton and skeleton.get("data") is None
    assert object_key(skeleton) == ("ns", "other")
    kept = secrets.cache._informers["ns"]._transform(_secret("used", "5"))
    assert kept["data"] == {"k": "dmFsdWU="} and STRIPPED not in kept
    assert "managedFields" not in kept["metadata"]


def test_a_fetched_copy_replaces_a_skeleton_but_never_steps_back() -> None:
    cache = Cache(cast(KubeClient, None), SECRETS, ["ns"])
    store = cache._informers["ns"].store
    store.put(cast(Obj, Skeleton(_secret("s", "7")["metadata"])))
    assert not cache.put(_secret("s", "6"))  # older than the skeleton: dropped
    assert cache.put(_secret("s", "8"))
    cached = cache.get(("ns", "s"))
    assert cached is not None and cached["data"] == {"k": "dmFsdWU="}
