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

The HTTP stack is aiohttp: a C HTTP parser, and the request line, headers and
a small body leave in one write. Measured per server-side apply on the local
control plane, it spends about a third of the client CPU httpx did (0.45-0.7
against 1.4-1.6 ms, bench/notes.md), and one apply per change is the
controller's hot path. Who we are is `runtime/credentials.py`: one
`Authorization` header, and one retry after a 401 when the credential says a
new value may be accepted.
"""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp

from secretloom import __version__
from secretloom.runtime.bucket import TokenBucket
from secretloom.runtime.credentials import Authorization, CredentialError
from secretloom.runtime.kubeconfig import Connection, load

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


USER_AGENT = f"secretloom/{__version__}"
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30.0)
# Large enough for a worker pool plus watches; HTTP/1.1 needs one connection each.
MAX_CONNECTIONS = 200
_FAILURES = (aiohttp.ClientError, TimeoutError, CredentialError)
_RECHECK = "recheck"  # the fence, in a request's trace context


class KubeClient:
    """Async raw-JSON client for one API server identity."""

    def __init__(self, connection: Connection, *, qps: float = 50.0, burst: int = 100) -> None:
        self._connection = connection
        self._base = connection.server.rstrip("/")
        # Made on first use: an aiohttp session belongs to the event loop it was made in.
        self._session: aiohttp.ClientSession | None = None
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
        return cls(load(path, in_cluster=in_cluster), qps=qps, burst=burst)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

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
        fence = self.fence if method != "GET" and not unfenced else None
        if fence is not None and not fence(path):
            raise NotLeader()
        content = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": content_type} if content is not None else {}
        # Asked again once a connection is in hand, just before the request goes out:
        # opening one (TCP, TLS) can take long enough for a pause to fall in between.
        recheck = functools.partial(fence, path) if fence is not None else None
        try:
            async with self._response(
                method, path, params=params, content=content, headers=headers, recheck=recheck
            ) as response:
                payload = await response.read()
        except _FAILURES as err:
            raise Unreachable(err) from None
        if response.status >= 300:
            raise _error(response.status, payload)
        result: Obj = json.loads(payload)
        return result

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = _session(self._connection.verify, limit=MAX_CONNECTIONS)
        return self._session

    @asynccontextmanager
    async def _response(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: aiohttp.ClientTimeout | None = None,
        recheck: Callable[[], bool] | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The answer to one request, sent again once if a 401 brings a new credential.

        `recheck` is the write fence, asked when the connection is ready (see `_fence_trace`).
        """
        credentials = self._connection.auth

        async def send(sent: Authorization | None) -> aiohttp.ClientResponse:
            return await self._http().request(
                method,
                self._base + path,
                params=_params(params),
                data=content,
                headers=_authorized(headers, sent),
                timeout=timeout or REQUEST_TIMEOUT,
                trace_request_ctx={_RECHECK: recheck},
            )

        sent = await credentials.authorize() if credentials is not None else None
        response = await send(sent)
        if response.status == 401 and credentials is not None and sent is not None:
            again = await credentials.refused(sent)
            if again is not None:
                response.release()
                response = await send(again)
        try:
            yield response
        finally:
            response.release()

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
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            async with (
                _session(self._connection.anonymous, limit=1) as bare,
                bare.post(
                    self._base + "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                    data=json.dumps(body).encode(),
                    headers=headers,
                ) as response,
            ):
                payload = await response.read()
        except _FAILURES as err:
            raise Unreachable(err) from None
        if response.status == 429 or response.status >= 500:
            raise _error(response.status, payload)
        return response.status != 401

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
        # No total: a watch lasts `timeout_seconds`; a silent stream is dead after the read timeout.
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=10.0, sock_read=timeout_seconds + 30.0
        )
        try:
            async with self._response("GET", path, params=query, timeout=timeout) as response:
                if response.status >= 300:
                    raise _error(response.status, await response.read())
                async for line in _lines(response.content):
                    event: Obj = json.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        raise _status_error(int(status.get("code") or 500), status)
                    yield event
        except (*_FAILURES, ValueError) as err:
            raise Unreachable(err) from None


async def _lines(stream: aiohttp.StreamReader) -> AsyncIterator[bytearray]:
    """Newline-delimited watch events, each whole, however large.

    Not `StreamReader.readline`: it refuses a line over its buffer limit (128 KiB),
    and a Secret holds up to 1 MiB.
    """
    buffer = bytearray()
    async for chunk in stream.iter_any():
        buffer += chunk
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            if end > start:
                yield buffer[start:end]
            start = end + 1
        del buffer[:start]


def _session(verify: ssl.SSLContext, *, limit: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=verify, limit=limit, limit_per_host=0),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        timeout=REQUEST_TIMEOUT,
        trust_env=False,  # the kubeconfig's server, never a proxy from the environment
        trace_configs=[_fence_trace()],
    )


def _fence_trace() -> aiohttp.TraceConfig:
    """Refuse a fenced write once its connection is ready, if the fence has closed meanwhile.

    aiohttp announces a reused connection and a newly opened one (after the TLS
    handshake) just before it writes the request, and releases the connection
    when a hook raises. So a leader stopped between `request`'s first check and
    the send (SIGSTOP, a frozen VM) finds the fence closed when it wakes, instead
    of sending a write its Lease no longer covers (chaos run, leader-pause:
    a status patch 7.3 s after the new leader acquired the Lease).
    """

    async def recheck(
        _session: aiohttp.ClientSession, context: SimpleNamespace, _params: object
    ) -> None:
        check = (context.trace_request_ctx or {}).get(_RECHECK)
        if check is not None and not check():
            raise NotLeader()

    trace = aiohttp.TraceConfig()
    trace.on_connection_reuseconn.append(recheck)
    trace.on_connection_create_end.append(recheck)
    return trace


def _authorized(headers: Mapping[str, str] | None, sent: Authorization | None) -> dict[str, str]:
    merged = dict(headers or {})
    if sent is not None:
        merged["Authorization"] = sent.header
    return merged


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
