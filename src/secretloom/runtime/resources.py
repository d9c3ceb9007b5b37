"""Where each kind lives in the REST API: the one home of the `Resource` constants.

Issue 11 found the same kinds defined again in the controllers, the CLI, the
test harness, the benchmarks and the tests, each a chance to disagree with
the others. Every layer above `api` (controllers, render, cli, testing,
bench, tests) names a kind through the constants here; a new kind gets its
constant here, beside the others, and nowhere else. The groups, versions and
plurals of secretloom's own kinds come from the pydantic models in `api/`,
the same source the CRDs are generated from.
"""

from __future__ import annotations

from dataclasses import dataclass

from secretloom.api import secretsync, stores


@dataclass(frozen=True, slots=True)
class Resource:
    """Where a kind lives in the REST API."""

    group: str
    version: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace is not None and self.namespaced:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{name}"
        if subresource is not None:
            base += f"/{subresource}"
        return base


SECRETS = Resource("", "v1", "secrets")
CONFIGMAPS = Resource("", "v1", "configmaps")
NAMESPACES = Resource("", "v1", "namespaces", namespaced=False)
EVENTS = Resource("events.k8s.io", "v1", "events")
LEASES = Resource("coordination.k8s.io", "v1", "leases")
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts")
CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False)
ADMISSION_POLICIES = Resource(
    "admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", namespaced=False
)
ADMISSION_POLICY_BINDINGS = Resource(
    "admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings", namespaced=False
)
SECRET_SYNCS = Resource(secretsync.GROUP, secretsync.VERSION, secretsync.PLURAL)
SECRET_STORES = Resource(secretsync.GROUP, secretsync.VERSION, stores.STORE_PLURAL)
CLUSTER_SECRET_STORES = Resource(
    secretsync.GROUP, secretsync.VERSION, stores.CLUSTER_STORE_PLURAL, namespaced=False
)
