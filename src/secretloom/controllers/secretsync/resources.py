"""Where SecretSyncs live in the REST API."""

from __future__ import annotations

from secretloom.api import secretsync as api
from secretloom.runtime.kube import Resource

SYNCS = Resource(api.GROUP, api.VERSION, api.PLURAL)
