"""Per-request plumbing as plain ASGI (no per-request task hop): request id, metrics, limits.

* every response gets ``X-Request-ID`` (also the problem's ``instance`` and the exchange-log
  ``correlation_id``) and ``Cache-Control: no-store`` unless the route set its own — API
  responses carry personal data and must not sit in shared caches;
* metrics are labelled by the matched route *template* (``/api/v1/persons/{uid}``), never
  the raw path, which would hold uids and explode the label set;
* request bodies are capped before anyone buffers them: ``Content-Length`` is checked up
  front and chunked bodies are counted as they stream;
* one access line per request (``gridhub.api.access``): method, route template, status,
  milliseconds, request id — never the raw path or query, which can hold ID numbers.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import Counter, Histogram

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUESTS = Counter(
    "gridhub_http_requests_total",
    "HTTP requests by method, route template and status.",
    ("method", "route", "status"),
)
LATENCY = Histogram(
    "gridhub_http_request_duration_seconds",
    "HTTP request latency by method and route template.",
    ("method", "route"),
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
AUTH_REFUSALS = Counter(
    "gridhub_auth_refusals_total",
    "Refused bearer tokens by channel and refusal code.",
    ("channel", "code"),
)
UNMATCHED = "unmatched"
access_log = logging.getLogger("gridhub.api.access")


class BodyTooLarge(Exception):
    """Raised into the app when a streamed body passes its cap."""


_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count(1)


def next_request_id() -> str:
    """32 hex digits, unique per process start and request: a random per-process prefix and a
    counter (``uuid4`` cost a ``getrandom`` call per request; the id is not a secret)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def _reseed() -> None:
    global _ID_PREFIX, _ID_COUNTER
    _ID_PREFIX, _ID_COUNTER = os.urandom(8).hex(), itertools.count(1)


os.register_at_fork(after_in_child=_reseed)  # forked workers must not share the prefix


def request_id(scope: Scope) -> str:
    state = scope.get("state") or {}
    return str(state.get("request_id") or "")


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    return str(getattr(route, "path", None) or UNMATCHED)


class RequestContext:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        large_body: int,
        large_body_paths: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.large_body = large_body
        self.large_body_paths = large_body_paths

    def _cap(self, path: str) -> int:
        return self.large_body if path.endswith(self.large_body_paths) else self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = next_request_id()
        scope.setdefault("state", {})["request_id"] = rid
        began = time.perf_counter()
        status = 500
        started = False
        cap = self._cap(str(scope.get("path", "")))

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers.append((b"x-request-id", rid.encode()))
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        try:
            if _declared_length(scope) > cap:
                await _send_problem(send_with_headers, rid, BodyTooLarge())
                return
            await self.app(scope, _counting(receive, cap), send_with_headers)
        except Exception as exc:
            # Handled here, not by Starlette's ServerErrorMiddleware, which would re-raise it
            # for the server to log with its message (database errors carry parameters).
            if started:
                raise
            await _send_problem(send_with_headers, rid, exc)
        finally:
            method = str(scope.get("method", ""))
            template = route_template(scope)
            elapsed = time.perf_counter() - began
            REQUESTS.labels(method, template, str(status)).inc()
            LATENCY.labels(method, template).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info("%s %s %d %.1fms %s", method, template, status, elapsed * 1000, rid)


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _counting(receive: Receive, cap: int) -> Receive:
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > cap:
                raise BodyTooLarge()
        return message

    return wrapped


async def _send_problem(send: Send, rid: str, exc: Exception) -> None:
    from api.problems import problem_for

    status, body = problem_for(exc, rid)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


__all__ = [
    "AUTH_REFUSALS",
    "LATENCY",
    "REQUESTS",
    "BodyTooLarge",
    "RequestContext",
    "request_id",
    "route_template",
]
