"""The moto server process the AWS tests talk to, with one fault gate in front.

Run as `python -m secretloom.testing.moto_main --port N` by `testing/moto.py`.
It serves moto's own WSGI application (`moto.server`'s dispatcher, the one
`moto_server` runs) on loopback, so every AWS answer is moto's. moto cannot
be told to throttle, yet a throttled call is what a busy AWS account answers
most often (issue 16), so this wrapper adds a gate: `POST /_secretloom/throttle`
with a count in the body makes the next that many Secrets Manager and
Parameter Store calls answer `400 ThrottlingException` in AWS's JSON error
shape, as the real services do, before moto sees them. Everything else passes
through untouched. Hand-written (a dozen lines of WSGI): moto has no hook
for it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

THROTTLE_PATH = "/_secretloom/throttle"
# The JSON-protocol services whose calls the gate may throttle (X-Amz-Target prefixes).
_THROTTLED_TARGETS = ("secretsmanager.", "AmazonSSM.")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class ThrottleGate:
    """WSGI middleware: answer the next `count` matching calls with ThrottlingException."""

    def __init__(self, app: WSGIApp) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._pending = 0
        self.throttled = 0

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == THROTTLE_PATH:
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(size) if size else b"0"
            with self._lock:
                self._pending = int(body or b"0")
                answer = json.dumps({"pending": self._pending, "throttled": self.throttled})
            start_response("200 OK", [("Content-Type", "application/json")])
            return [answer.encode()]
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if target.startswith(_THROTTLED_TARGETS):
            with self._lock:
                throttle = self._pending > 0
                if throttle:
                    self._pending -= 1
                    self.throttled += 1
            if throttle:
                error = {"__type": "ThrottlingException", "message": "Rate exceeded"}
                headers = [
                    ("Content-Type", "application/x-amz-json-1.1"),
                    ("x-amzn-RequestId", uuid.uuid4().hex),
                ]
                start_response("400 Bad Request", headers)
                return [json.dumps(error).encode()]
        return self._app(environ, start_response)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, ThrottleGate(app), threaded=True)


if __name__ == "__main__":
    main()
