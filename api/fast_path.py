"""``GET /api/v1/persons/{uid}`` without FastAPI's per-request dependency solving.

The unified record is the API's hottest call, and FastAPI spent more CPU resolving its eight
dependencies and parameters (hub, bearer scheme, principal, session, access, purpose header,
reveal query, path) than the read itself costs. This ASGI layer sits inside
:class:`~api.middleware.RequestContext` (request id, metrics, access line, no-store) and
answers the *plain* form of that request — no query string, at most an ``X-Purpose`` header
short enough to be valid — by calling exactly what the route calls: the same
authentication, :meth:`~api.policy.Policy.assess`, :func:`~api.person_record.read_person`
(scope check, masking, exchange-log entry), commit before the data leaves, and the same
problem responses. Anything else (``?reveal=``, odd headers, other paths) passes through to
FastAPI untouched, so validation errors and every edge keep one implementation. The route
stays declared for the OpenAPI document, which therefore still describes this call exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from api.auth import authenticate, authenticate_cached
from api.context import Hub
from api.errors import ApiError
from api.middleware import ASGIApp, Receive, Scope, Send, request_id
from api.person_record import read_person
from api.policy import REST
from api.problems import handle_api_error
from api.routes import read_commit_respond

_PATH = re.compile(r"/api/v1/persons/([0-9A-HJKMNP-TV-Z]{26})")
_PURPOSE_MAX = 48  # the route's X-Purpose max_length
OPERATION = "person.get"


def _handled_errors() -> tuple[type[Exception], ...]:
    from sqlalchemy.exc import OperationalError

    from identity.errors import IdentityError
    from workflow.errors import WorkflowError

    return (ApiError, IdentityError, WorkflowError, OperationalError)


class PersonFastPath:
    """ASGI middleware: the plain person read directly, everything else to ``app``."""

    def __init__(self, app: ASGIApp, *, fastapi: FastAPI) -> None:
        self.app = app
        self.fastapi = fastapi
        self.route = next(r for r in fastapi.routes if getattr(r, "name", None) == OPERATION)
        self.errors = _handled_errors()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["query_string"]:
            await self.app(scope, receive, send)
            return
        match = _PATH.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        authorization: str | None = None
        purpose: str | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is not None:  # repeated: let the framework decide
                    await self.app(scope, receive, send)
                    return
                authorization = value.decode("latin-1")
            elif name == b"x-purpose":
                if purpose is not None or len(value) > _PURPOSE_MAX:
                    await self.app(scope, receive, send)
                    return
                purpose = value.decode("latin-1")
        scope["route"] = self.route  # metrics, access line and refusals name the route
        scope["app"] = self.fastapi
        scope.setdefault("path_params", {})["uid"] = match.group(1)
        try:
            response = await self._read(scope, match.group(1), authorization, purpose)
        except self.errors as exc:
            response = await handle_api_error(Request(scope, receive), exc)
        await response(scope, receive, send)

    async def _read(
        self, scope: Scope, uid: str, authorization: str | None, purpose: str | None
    ) -> Response:
        hub: Hub = self.fastapi.state.hub
        where = self.route.path  # type: ignore[attr-defined]
        client = scope.get("client")
        peer = client[0] if client else "-"
        principal = authenticate_cached(hub, authorization, channel=REST, where=where, peer=peer)
        if principal is None:
            principal = await run_in_threadpool(
                authenticate, hub, authorization, channel=REST, where=where, peer=peer
            )
        access, refusal = hub.policy.assess(
            principal, channel=REST, correlation_id=request_id(scope), purpose=purpose
        )
        session = hub.sessions()
        work: Callable[[], Any]
        if refusal is not None:

            def work() -> Any:
                hub.policy.deny(session, access, OPERATION, refusal)

        else:

            def work() -> Response:
                return read_commit_respond(
                    session,
                    hub.policy,
                    access,
                    lambda: read_person(session, hub.policy, access, uid),
                )

        try:
            response: Response = await run_in_threadpool(work)
        except BaseException:
            await run_in_threadpool(session.close)  # rolls back what was not committed
            raise
        session.close()  # committed: no I/O left
        return response


__all__ = ["PersonFastPath"]
