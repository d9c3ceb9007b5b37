"""What both AWS providers share: credentials, the guarded transport, bounds, errors (issue 16).

`aws_secretsmanager.py` and `aws_parameterstore.py` are one module each; this
is their common client, on botocore (no hand-written SigV4: botocore signs,
retries and parses).

Transport. botocore talks HTTP through its own urllib3 session, which knows
nothing of the operator's egress policy. Every request is therefore sent from
botocore's documented `before-send` event, whose handler may answer a request
itself: it sends the signed request through `transport.GuardedSession`, the
Vault provider's transport, and hands botocore the answer. The egress policy
(`--store-servers`) is thus checked against the address each socket really
connects to, answers are read no further than `MAX_RESPONSE_BYTES`, and a
call cut at its deadline has its sockets shut down (`transport.Threads`).
botocore's own connection pool is never used.

Bounds (issue 10). Each public call runs under one total deadline,
`ProviderContext.timeout`: the credential exchange, botocore's retries and
their backoff included. Throttling (`ThrottlingException` and kin) is retried
by botocore's standard retry mode (exponential backoff with jitter, a retry
quota), at most `_ATTEMPTS` attempts; a call still throttled after that is
`Unavailable` and the caller keeps the last good value and retries later.

Ambient configuration is ignored: a botocore session would otherwise read
AWS_* variables, ~/.aws/config and credentials, a configured endpoint URL or
a CA bundle of the controller's environment. Each client gets its region,
endpoint and credentials from its store spec only, and botocore's credential
chain never runs.

Credentials. `auth.secretRef` keys are read when the client is built (the
caller rebuilds it after an `Unauthorized`, so rotated keys are picked up).
`auth.jwt` (IRSA) requests a ServiceAccount token through
`ProviderContext.request_token` (the operator's audience allow-list and the
"useless against the API server" check apply, `runtime/tokens.py`), exchanges
it with an unsigned STS AssumeRoleWithWebIdentity, and exchanges a new one at
two thirds of the credentials' lifetime. Nothing is revoked on close: STS
credentials cannot be revoked, they expire.

Logs never carry a value either: botocore logs request parameters and
response bodies at DEBUG, so its loggers are held at WARNING on import,
whatever level the controller runs at (the canary tests run it at DEBUG).

Errors never carry a value: messages are built from request coordinates (the
service, endpoint, region, secret or parameter name, pin, property) plus the
AWS error code and HTTP status. AWS error messages are never used (they may
quote a request), and every `ProviderError` is raised outside the `except`
that caught its cause, so no traceback carries the original exception.

Trust, as for Vault: an endpoint is trusted once it answered in AWS's shape
(an `x-amzn-RequestId` / `x-amz-request-id` header). Until then every failure
gets one message and the cause goes to the controller's log, so a tenant
cannot use a store's status to probe what answers on other hosts and ports.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, cast

import botocore.session
from botocore import UNSIGNED
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from secretloom.api.aws import AWSProviderSpec
from secretloom.api.vault import SecretKeyRef
from secretloom.providers.egress import EgressDenied
from secretloom.providers.protocol import (
    InvalidConfig,
    NotFound,
    ProviderContext,
    ProviderError,
    Unauthorized,
    Unavailable,
    ValueRef,
)
from secretloom.providers.transport import GuardedSession, ResponseTooLarge, ServerMoved, Threads

_log = logging.getLogger(__name__)
T = TypeVar("T")
# botocore logs request parameters and response bodies (secret values) at DEBUG: its
# loggers stay at WARNING whatever level the controller runs at.
for _name in ("botocore", "boto3"):
    logging.getLogger(_name).setLevel(logging.WARNING)

# Secrets Manager values are at most 64 KiB, parameters 8 KiB (advanced), a page of
# GetParametersByPath 10 of those: 2 MiB bounds every answer with room to spare.
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
# What a dataFrom may add up to: a Secret holds at most 1 MiB.
MAX_TOTAL_BYTES = 1024 * 1024
_ATTEMPTS = 4  # botocore standard mode: 1 call + 3 retries with jittered exponential backoff
_THREADS = 4
_RENEW_AT_FRACTION = 2 / 3
_REQUEST_ID_HEADERS = ("x-amzn-requestid", "x-amz-request-id")
NOT_AWS = "the endpoint did not answer as an AWS API (details in the controller's log)"

# Authenticated, not authorised: credentials that work, for a check that lists nothing.
ACCESS_DENIED = frozenset({"AccessDeniedException", "AccessDenied"})
_NOT_FOUND = frozenset(
    {"ResourceNotFoundException", "ParameterNotFound", "ParameterVersionNotFound"}
)
_UNAUTHORIZED = frozenset(
    {
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredTokenException",
        "ExpiredToken",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidIdentityToken",
        "IDPRejectedClaim",
        "DecryptionFailure",
        "KMSAccessDeniedException",
    }
)
_THROTTLED = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
    }
)


@dataclass(frozen=True, slots=True)
class _Keys:
    access_key: str
    secret_key: str
    session_token: str | None
    renew_at: float | None  # monotonic time to exchange a new token (IRSA); None: never


class _Body:
    """What botocore reads an answer from (`raw.stream()`); already read and capped."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._content


class AWSClient:
    """One store's botocore clients behind the provider protocol; subclassed per service."""

    service: ClassVar[str]  # botocore's service name: "secretsmanager", "ssm"
    title: ClassVar[str]  # for messages: "aws-secretsmanager"

    def __init__(
        self,
        spec: AWSProviderSpec,
        ctx: ProviderContext,
        *,
        timeout: float | None = None,  # for tests; the controller's is `ctx.timeout`
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._spec = spec
        self._ctx = ctx
        self._timeout = ctx.timeout if timeout is None else timeout
        self._clock = clock
        self._threads = Threads(_THREADS, name=f"secretloom-{self.service}")
        self._http = GuardedSession(ctx.egress, verify=True, max_body=MAX_RESPONSE_BYTES)
        self._lock = asyncio.Lock()
        self._client: Any = None
        self._keys: _Keys | None = None
        self._trusted = False
        self._closed = False
        self._throttled_at = -math.inf  # when botocore last retried a throttled call
        self._throttle_code = ""
        self._auth_name = spec.auth.methods()[0]

    # -- Provider protocol: close; get, get_all and validate are the services' ---------

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            self._client = None
            self._keys = None
        self._threads.close()
        self._http.close()

    # -- for the services -------------------------------------------------------------

    def subject(self, ref: ValueRef | None = None, *, noun: str = "secret") -> str:
        """Where a request went, for messages: request coordinates only."""
        where = self._spec.endpoint or f"region {self._spec.region}"
        words = [f"{self.title} {where}"]
        if ref is not None:
            words.append(f"{noun} {ref.path!r}")
            if ref.version is not None:
                words.append(f"version {ref.version}")
            if ref.stage is not None:
                words.append(f"stage {ref.stage!r}")
            if ref.version_id is not None:
                words.append(f"version id {ref.version_id!r}")
            if ref.property is not None:
                words.append(f"property {ref.property!r}")
        words.append(f"({self._auth_name} auth)")
        return " ".join(words)

    async def bounded(self, work: Callable[[], Awaitable[T]], subject: str) -> T:
        """`work()` within the call's total deadline; past it, `Unavailable`."""
        deadline = asyncio.timeout(self._timeout)
        started = time.monotonic()
        try:
            async with deadline:
                return await work()
        except TimeoutError:
            if not deadline.expired():
                raise
        if self._throttled_at >= started:  # botocore was still backing off
            raise Unavailable(
                f"{subject}: throttled by AWS ({self._throttle_code}), still throttled "
                f"at the {self._timeout:g}s deadline"
            ) from None
        error = Unavailable(f"{subject}: did not answer within {self._timeout:g}s, timed out")
        raise (error if self._trusted else self._distrust(error)) from None

    async def call(
        self, operation: str, subject: str, *, allow: frozenset[str] = frozenset(), **params: Any
    ) -> dict[str, Any]:
        """One API call of the service with the store's credentials.

        An AWS error whose code is in `allow` answers `{}` instead of raising.
        """
        client = await self._ready()
        method = getattr(client, operation)

        def run() -> dict[str, Any]:
            try:
                answer: dict[str, Any] = method(**params)
            except ClientError as err:
                if (err.response.get("Error") or {}).get("Code") not in allow:
                    raise
                return {}
            return answer

        return await self._run(run, subject)

    async def pages(self, operation: str, subject: str, **params: Any) -> list[dict[str, Any]]:
        """Every page of a paginated call, stopping past `MAX_TOTAL_BYTES` of answers."""
        client = await self._ready()
        paginator = client.get_paginator(operation)

        def collect() -> list[dict[str, Any]]:
            pages: list[dict[str, Any]] = []
            for page in paginator.paginate(**params):
                pages.append(page)
                if sum(_size(p) for p in pages) > MAX_TOTAL_BYTES:
                    raise ResponseTooLarge(MAX_TOTAL_BYTES)
            return pages

        return await self._run(collect, subject)

    # -- credentials and clients ------------------------------------------------------

    async def _ready(self) -> Any:
        async with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.title} provider used after close()")
            keys = self._keys
            if keys is None or (keys.renew_at is not None and self._clock() >= keys.renew_at):
                self._keys = keys = await self._credentials()
                self._client = self._botocore(self.service, keys)
            return self._client

    async def _credentials(self) -> _Keys:
        auth = self._spec.auth
        if auth.secret_ref is not None:
            static = auth.secret_ref
            token = static.session_token_secret_ref
            return _Keys(
                await self._read(static.access_key_id_secret_ref, "accessKeyIDSecretRef"),
                await self._read(static.secret_access_key_secret_ref, "secretAccessKeySecretRef"),
                None if token is None else await self._read(token, "sessionTokenSecretRef"),
                None,
            )
        assert auth.jwt is not None  # the spec guarantees exactly one method
        jwt = auth.jwt
        account = jwt.service_account_ref
        subject = (
            f"{self.subject()} AssumeRoleWithWebIdentity as {jwt.role_arn!r} "
            f"(service account {account.name!r})"
        )
        if self._ctx.request_token is None:
            raise InvalidConfig(f"{subject}: this controller cannot request tokens")
        jwt_token = await self._ctx.request_token(account.name, account.audiences)
        sts = self._botocore("sts", None)
        started = self._clock()
        answer = await self._run(
            lambda: sts.assume_role_with_web_identity(
                RoleArn=jwt.role_arn,
                RoleSessionName=f"secretloom-{self._ctx.namespace}"[:64],
                WebIdentityToken=jwt_token,
            ),
            subject,
        )
        creds = answer.get("Credentials") or {}
        try:
            keys = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
            lifetime = creds["Expiration"].timestamp() - time.time()
        except (KeyError, TypeError, AttributeError):
            keys, lifetime = None, 0.0
        if keys is None:
            raise Unavailable(f"{subject}: answered without credentials")
        _log.debug("aws web identity: %s (credentials for %.0fs)", subject, lifetime)
        return _Keys(*keys, renew_at=started + max(lifetime, 0.0) * _RENEW_AT_FRACTION)

    async def _read(self, ref: SecretKeyRef, field: str) -> str:
        raw = await self._ctx.read_secret_key(ref.name, ref.key)
        try:
            value = raw.decode().strip()
        except UnicodeDecodeError:
            value = ""
        if not value:
            raise InvalidConfig(
                f"{self.subject()}: {field} Secret {ref.name!r} key {ref.key!r} "
                "is empty or not UTF-8"
            )
        return value

    def _botocore(self, service: str, keys: _Keys | None) -> Any:
        """A client of `service` configured from the spec alone (see the module docstring)."""
        # Logical name -> (config key, environment variables, default, converter):
        # no variable is consulted, no file is read.
        session = botocore.session.Session(
            session_vars={
                "profile": (None, None, None, None),
                "config_file": (None, None, os.devnull, None),
                "credentials_file": (None, None, os.devnull, None),
            }
        )
        for name, value in (
            ("ignore_configured_endpoint_urls", True),
            ("use_fips_endpoint", False),
            ("use_dualstack_endpoint", False),
        ):
            session.set_config_variable(name, value)
        config = Config(
            region_name=self._spec.region,
            retries={"mode": "standard", "total_max_attempts": _ATTEMPTS},
            connect_timeout=self._timeout,
            read_timeout=self._timeout,
            signature_version=UNSIGNED if keys is None else None,
            user_agent_extra="secretloom",
        )
        client = session.create_client(
            service,
            region_name=self._spec.region,
            endpoint_url=self._spec.service_url(service),
            aws_access_key_id=None if keys is None else keys.access_key,
            aws_secret_access_key=None if keys is None else keys.secret_key,
            aws_session_token=None if keys is None else keys.session_token,
            config=config,
        )
        client.meta.events.register("before-send", cast(Callable[..., None], self._send))
        client.meta.events.register("needs-retry", self._note_throttle)
        return client

    def _send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        """botocore's `before-send`: the signed request, sent through the guarded session."""
        body = request.body
        response = self._http.request(
            request.method,
            request.url,
            headers=dict(request.headers.items()),
            data=body.read() if body is not None and hasattr(body, "read") else body,
            timeout=self._timeout,
            allow_redirects=False,
        )
        if any(h in response.headers for h in _REQUEST_ID_HEADERS):
            self._trusted = True
        headers = HTTPHeaders.from_pairs(list(response.headers.items()))
        return AWSResponse(request.url, response.status_code, headers, _Body(response.content))

    def _note_throttle(self, response: Any = None, **_: Any) -> None:
        """botocore's `needs-retry`: remember a throttled answer, for the deadline's message."""
        parsed = response[1] if isinstance(response, tuple) and len(response) == 2 else {}
        code = str(((parsed or {}).get("Error") or {}).get("Code") or "")
        if code in _THROTTLED:
            self._throttled_at, self._throttle_code = time.monotonic(), code

    async def _run(self, fn: Callable[[], T], subject: str) -> T:
        """One blocking botocore call on the client's threads; failures become provider errors."""
        try:
            return await self._threads.run(fn)
        except Exception as exc:  # translated below; botocore's text may quote bodies
            error = translate(exc, subject)
            moved = isinstance(exc, (ServerMoved, EgressDenied))
        if moved or not self._trusted:
            raise self._distrust(error) from None
        _log.debug("%s request failed: %s", self.title, error)
        raise error from None

    def _distrust(self, cause: ProviderError) -> ProviderError:
        """Before the endpoint answered as AWS: one message for all, the cause to the log."""
        if isinstance(cause, InvalidConfig):  # the spec's own fault, no server involved
            return cause
        self._trusted = False
        self._http.forget_addresses()
        _log.warning("%s endpoint not trusted as AWS: %s", self.title, cause)
        return Unavailable(f"{self.subject()}: {NOT_AWS}")


def translate(exc: Exception, subject: str) -> ProviderError:
    """A provider error for a failed botocore call, from its code and status only."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, ClientError):
        answer: dict[str, Any] = dict(exc.response)
        code = str((answer.get("Error") or {}).get("Code") or "")
        status = (answer.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        shown = f"{code} (HTTP {status})" if code and code != str(status) else f"HTTP {status}"
        if code in _NOT_FOUND:
            return NotFound(f"{subject}: not found")
        if code in _UNAUTHORIZED or status in (401, 403):
            return Unauthorized(f"{subject}: credentials rejected: {shown}")
        if code in _THROTTLED:
            return Unavailable(f"{subject}: throttled by AWS ({code}), retries exhausted")
        if code in ("ValidationException", "InvalidParameterException", "InvalidRequestException"):
            return InvalidConfig(f"{subject}: request refused: {shown}")
        return Unavailable(f"{subject}: {shown}")
    if isinstance(exc, ResponseTooLarge):
        return Unavailable(f"{subject}: {exc}")
    if isinstance(exc, (EgressDenied, ServerMoved)):
        return Unavailable(f"{subject}: {exc}")
    if isinstance(exc, BotoCoreError):
        return Unavailable(f"{subject}: {type(exc).__name__}")
    return Unavailable(f"{subject}: connection failed ({type(exc).__name__})")


def _size(page: dict[str, Any]) -> int:
    return sum(len(str(p.get("Value", ""))) for p in page.get("Parameters") or ())
