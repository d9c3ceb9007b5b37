"""Where SecretStores and ClusterSecretStores live in the REST API."""

from __future__ import annotations

from secretloom.api import stores as api
from secretloom.api.secretsync import GROUP, VERSION
from secretloom.runtime.kube import Resource

STORES = Resource(GROUP, VERSION, api.STORE_PLURAL)
CLUSTER_STORES = Resource(GROUP, VERSION, api.CLUSTER_STORE_PLURAL, namespaced=False)
