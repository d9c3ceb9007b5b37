"""Keeping the key ring: load, renew, publish, on the leader (issue #13).

Every `interval` seconds the manager lists the key Secrets of the
controller's namespace (both labels, see `keyring`), makes a new RSA-4096 key
when `keyring.renewal_reason` says so (generated off the event loop: it
takes about a second), and applies the current certificate to the
`secretloom-sealing-cert` ConfigMap. Old keys are never deleted. When the set
of keys changes, `on_change` runs, so SecretSyncs whose sealed values did not
open get another try.

Logs and Events name keys (Secret names) and reasons, never key material.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging
import secrets
from collections.abc import Callable

from secretloom import seal
from secretloom.api import sealing as api
from secretloom.controllers.sealing.keyring import CREATED_ANNOTATION, KeyRing, renewal_reason
from secretloom.runtime.kube import ApiError, KubeClient
from secretloom.runtime.resources import CONFIGMAPS, SECRETS

log = logging.getLogger(__name__)
FIELD_MANAGER = "secretloom-sealing"


class KeyManager:
    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        *,
        renew_period: float,
        on_change: Callable[[], None] = lambda: None,
        writer: Callable[[], bool] = lambda: True,
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._period = renew_period
        self._on_change = on_change
        self._writer = writer
        self.ring = KeyRing()
        self._reported: tuple[str, ...] = ()

    @property
    def interval(self) -> float:
        """How often the keys are checked: often enough for short periods in tests."""
        return max(1.0, min(self._period / 4, 10.0)) if self._period else 10.0

    async def load(self) -> KeyRing:
        found = []
        for label in (api.KEY_LABEL, api.BITNAMI_KEY_LABEL):
            items, _ = await self._client.list(
                SECRETS.path(self._namespace), params={"labelSelector": label}
            )
            found += items
        ring = KeyRing.of(found)
        if ring.problems != self._reported:
            for problem in ring.problems:
                log.warning("sealing key Secret skipped", extra={"problem": problem})
            self._reported = ring.problems
        changed = ring.names() != self.ring.names()
        self.ring = ring
        if changed:
            log.info("sealing keys loaded", extra={"keys": list(ring.names())})
            self._on_change()
        return ring

    async def ensure(self) -> None:
        """One round: load, renew if due, publish the current certificate."""
        ring = await self.load()
        if not self._writer():
            return  # another replica renews and publishes (sharding); this one only reads
        now = datetime.datetime.now(datetime.UTC)
        reason = renewal_reason(ring, now, self._period)
        if reason is not None:
            name = await self._create_key(now)
            log.info("sealing key created", extra={"key": name, "reason": reason})
            ring = await self.load()
        current = ring.current()
        if current is not None:
            await self._publish(current.cert_pem, current.name)

    async def _create_key(self, now: datetime.datetime) -> str:
        private_pem, cert_pem = await asyncio.to_thread(seal.generate)
        name = f"{api.KEY_NAME_PREFIX}{now.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {
                "name": name,
                "namespace": self._namespace,
                "labels": {api.KEY_LABEL: api.ACTIVE},
                "annotations": {CREATED_ANNOTATION: now.isoformat()},
            },
            "data": {
                "tls.key": base64.b64encode(private_pem).decode(),
                "tls.crt": base64.b64encode(cert_pem).decode(),
            },
        }
        await self._client.create(SECRETS.path(self._namespace), body)
        return name

    async def _publish(self, cert_pem: bytes, key_name: str) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": api.CERT_CONFIGMAP, "namespace": self._namespace},
            "data": {api.CERT_KEY: cert_pem.decode(), "key": key_name},
        }
        await self._client.apply(
            CONFIGMAPS.path(self._namespace, api.CERT_CONFIGMAP), body, field_manager=FIELD_MANAGER
        )

    async def run(self) -> None:
        """Check the keys every `interval` until cancelled; API errors are retried."""
        while True:
            try:
                await self.ensure()
            except ApiError as err:
                log.warning("sealing keys: API error, retrying", extra={"error": str(err)})
            await asyncio.sleep(self.interval)
