"""A thin async Kubernetes API client over raw JSON.

`runtime/kubeconfig.py` loads the configuration (a kubeconfig through
lightkube's parser, exec credential plugins v1 and v1beta1, or the pod's
service account) and every problem with it is one `KubeconfigError` line;
requests here speak plain dicts. Typed models cost a parse per watch
event on the hot path, and a controller needs only a handful of verbs: list
(paginated, returning the list's resourceVersion), watch (with bookmarks),
get, server-side apply, delete, create.

Client-side rate limiting is an explicit knob (`qps`, `burst`): a token bucket
in front of every request except long-running watches, like client-go's
(`runtime/bucket.py`, the same bucket the work queues' retry limiter uses).

Errors carry the API server's `Status` reason and message; those never hold
Secret data (the server does not echo request bodies into Status messages). A
request that got no answer, because the connection failed or the exec plugin
gave no credential, is `Unreachable`, retried like any outage.

Where each kind lives (`Resource` and its constants) is `runtime/resources.py`.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx

from secretloom.runtime.bucket import TokenBucket
from secretloom.runtime.execauth import ExecError
from secretloom.runtime.kubeconfig import load

Obj = dict[str, Any]
APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"


class ApiError(Exception):
    """A non-2xx answer from the API server."""

    def __init__(self, status: int, reason: str, message: str, body: Obj | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}


class Gone(ApiError):
    """410: the requested resourceVersion is too old; relist."""


class NotLeader(ApiError):
    """A write refused before it was sent: this replica's lease may have passed to another."""

    def __init__(self) -> None:
        message = "this replica does not hold the Lease (leader or shard) for this write"
        super().__init__(0, "NotLeader", message)


class Unreachable(ApiError):
    """No HTTP answer: connection refused, reset, timed out, a broken stream, no credential."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(0, "Unreachable", f"{type(cause).__name__}: {cause}")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """The API server without any identity: where to present someone else's token."""

    server: str
    verify: ssl.SSLContext  # the cluster's CA, and no client certificate


class KubeClient:
    """Async raw-JSON client for one API server identity."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        endpoint: Endpoint,
        qps: float = 50.0,
        burst: int = 100,
    ) -> None:
        self._http = http
        self._endpoint = endpoint
        self._limiter = TokenBucket(qps, burst)
        # Leader election's write fence: when set, every write is refused unless it
        # says the lease is still ours. Checked just before the request is sent, so
        # a leader that was paused past its lease (SIGSTOP, a long GC, a frozen VM)
        # cannot wake up and apply what its queue held (see runtime/leader.py).
        # Called with the request's path: with sharding, the fence is per namespace.
        self.fence: Callable[[str], bool] | None = None

    @classmethod
    def from_kubeconfig(
        cls,
        path: Path | str | None = None,
        *,
        in_cluster: bool = False,
        qps: float = 50.0,
        burst: int = 100,
    ) -> KubeClient:
        """From `path`, the pod's service account (`in_cluster`), or (neither) the environment.

        Raises `KubeconfigError` (one line) when the configuration is unusable.
        """
        connection = load(path, in_cluster=in_cluster)
        http = httpx.AsyncClient(
            base_url=connection.server,
            verify=connection.verify,
            auth=connection.auth,
            timeout=httpx.Timeout(30.0),
            trust_env=False,
            # Large enough for a worker pool plus watches; HTTP/1.1 needs one connection each.
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )
        endpoint = Endpoint(connection.server, connection.anonymous)
        return cls(http, endpoint=endpoint, qps=qps, burst=burst)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        body: Obj | None = None,
        content_type: str = "application/json",
        unfenced: bool = False,
    ) -> Obj:
        await self._limiter.acquire()
        if method != "GET" and not unfenced and self.fence is not None and not self.fence(path):
            raise NotLeader()
        content = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": content_type} if content is not None else {}
        try:
            response = await self._http.request(
                method, path, params=_params(params), content=content, headers=headers
            )
        except (httpx.TransportError, ExecError) as err:
            raise Unreachable(err) from None
        if response.status_code >= 300:
            raise _error(response.status_code, response.content)
        result: Obj = response.json()
        return result

    async def get(self, path: str) -> Obj:
        return await self.request("GET", path)

    async def accepts_token(self, token: str) -> bool:
        """Whether the API server authenticates `token`: a SelfSubjectReview made as it.

        Sent on its own connection, without this client's credentials: a client
        certificate would authenticate the request before the token is looked
        at. A token the server does not accept is a 401 whatever the path (the
        authentication filter runs first, and a rejected bearer token never
        falls back to anonymous), so any other answer means it was accepted;
        429 and 5xx prove nothing and raise. Needs no RBAC: every authenticated
        user may create a SelfSubjectReview.
        """
        await self._limiter.acquire()
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        try:
            async with httpx.AsyncClient(
                base_url=self._endpoint.server,
                verify=self._endpoint.verify,
                trust_env=False,
                timeout=httpx.Timeout(30.0),
            ) as bare:
                response = await bare.post(
                    "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
        except httpx.TransportError as err:
            raise Unreachable(err) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _error(response.status_code, response.content)
        return response.status_code != 401

    async def create(self, path: str, body: Obj, *, unfenced: bool = False) -> Obj:
        return await self.request("POST", path, body=body, unfenced=unfenced)

    async def delete(self, path: str, *, unfenced: bool = False) -> Obj:
        return await self.request("DELETE", path, unfenced=unfenced)

    async def apply(self, path: str, body: Obj, *, field_manager: str, force: bool = False) -> Obj:
        """Server-side apply `body` as `field_manager`; `force` takes conflicting fields."""
        if not field_manager:
            raise ValueError("server-side apply needs a field manager")
        params: dict[str, str | int | bool] = {"fieldManager": field_manager}
        if force:
            params["force"] = True
        return await self.request("PATCH", path, params=params, body=body, content_type=APPLY_PATCH)

    async def replace(self, path: str, body: Obj, *, unfenced: bool = False) -> Obj:
        """PUT: optimistic concurrency through `metadata.resourceVersion` (409 on a race)."""
        return await self.request("PUT", path, body=body, unfenced=unfenced)

    async def merge_patch(self, path: str, body: Obj) -> Obj:
        return await self.request("PATCH", path, body=body, content_type=MERGE_PATCH)

    async def list(
        self,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        page_size: int = 500,
        transform: Callable[[Obj], Obj] | None = None,
    ) -> tuple[list[Obj], str]:
        """All items across pages, and the list's resourceVersion to watch from.

        `transform` runs on each item as its page arrives, so what it drops (the
        data of Secrets nobody references) is never held for the whole list.
        """
        items: list[Obj] = []
        query: dict[str, str | int | bool] = {**(params or {}), "limit": page_size}
        while True:
            page = await self.request("GET", path, params=query)
            found: list[Obj] = page.get("items") or []
            items.extend(map(transform, found) if transform is not None else found)
            meta = page.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                return items, str(meta.get("resourceVersion", ""))
            query["continue"] = token

    async def watch(
        self,
        path: str,
        *,
        resource_version: str,
        params: Mapping[str, str] | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[Obj]:
        """Watch events (type + object) from `resource_version`, bookmarks included.

        Ends when the server closes the stream; raises `Gone` on 410, whether the
        server answers with a status code or with an ERROR event.
        """
        query: dict[str, str | int | bool] = {
            **(params or {}),
            "watch": True,
            "allowWatchBookmarks": True,
            "resourceVersion": resource_version,
            "timeoutSeconds": timeout_seconds,
        }
        timeout = httpx.Timeout(10.0, read=timeout_seconds + 30.0)
        try:
            async with self._http.stream(
                "GET", path, params=_params(query), timeout=timeout
            ) as response:
                if response.status_code >= 300:
                    raise _error(response.status_code, await response.aread())
                async for line in response.aiter_lines():
                    if not line:
                        continue
                    event: Obj = json.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        raise _status_error(int(status.get("code") or 500), status)
                    yield event
        except (httpx.TransportError, httpx.StreamError, ExecError, ValueError) as err:
            raise Unreachable(err) from None


def _params(params: Mapping[str, str | int | bool] | None) -> dict[str, str] | None:
    if params is None:
        return None
    return {
        k: ("true" if v is True else "false" if v is False else str(v)) for k, v in params.items()
    }


def _error(code: int, content: bytes) -> ApiError:
    try:
        status = json.loads(content)
    except ValueError:
        status = {}
    if not isinstance(status, dict):
        status = {}
    return _status_error(code, status)


def _status_error(code: int, status: Obj) -> ApiError:
    reason = str(status.get("reason") or "Unknown")
    message = str(status.get("message") or f"HTTP {code}")
    cls = Gone if code == 410 else ApiError
    return cls(code, reason, message, status)
