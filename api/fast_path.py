"""``GET /api/v1/persons/{uid}`` and ``GET /api/v1/persons?q=`` without FastAPI's
per-request dependency solving.

The unified record is the API's hottest call, and FastAPI spent more CPU resolving its eight
dependencies and parameters (hub, bearer scheme, principal, session, access, purpose header,
reveal query, path) than the read itself costs. This ASGI layer sits inside
:class:`~api.middleware.RequestContext` (request id, metrics, access line, no-store) and
answers the *plain* form of that request — no query string, at most an ``X-Purpose`` header
short enough to be valid — by calling exactly what the route calls: the same
authentication, :meth:`~api.policy.Policy.assess`, :func:`~api.person_record.read_person`
(scope check, masking, exchange-log entry), commit before the data leaves, and the same
problem responses. A search is answered the same way when its query string holds only
``q``, ``by``, ``limit`` and ``cursor``, each once and already valid by the route's own
rules (:func:`search_params`). Anything else (``?reveal=``, odd headers, a parameter the
route would refuse, other paths) passes through to FastAPI untouched, so validation errors
and every edge keep one implementation. The routes stay declared for the OpenAPI document,
which therefore still describes these calls exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from api.auth import authenticate, authenticate_cached
from api.config import DEFAULT_PAGE, MAX_PAGE, MAX_QUERY_CHARS
from api.context import Hub
from api.errors import ApiError
from api.middleware import ASGIApp, Receive, Scope, Send, request_id
from api.person_record import read_person
from api.person_search import SearchField, search_persons
from api.policy import REST, Access
from api.problems import handle_api_error
from api.routes import read_commit_respond

_PATH = re.compile(r"/api/v1/persons/([0-9A-HJKMNP-TV-Z]{26})")
_SEARCH_PATH = "/api/v1/persons"
_PURPOSE_MAX = 48  # the route's X-Purpose max_length
_CURSOR_MAX = 256  # the route's cursor max_length
_LIMIT = re.compile(r"[1-9][0-9]{0,2}")
_FIELDS = frozenset(f.value for f in SearchField)
OPERATION = "person.get"
SEARCH = "person.search"
Read = Callable[[Any, Access], Any]  # (session, access) -> the view


def search_params(query_string: bytes) -> dict[str, Any] | None:
    """The search's arguments when the query string is plain and valid, else None (FastAPI
    then answers, with its own validation errors). Decoded as Starlette decodes it, but
    strictly: a byte that is not UTF-8 goes to the framework too."""
    try:
        pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None
    given = dict(pairs)
    if len(given) != len(pairs) or not given.keys() <= {"q", "by", "limit", "cursor"}:
        return None
    q, by, limit = given.get("q", ""), given.get("by", "auto"), given.get("limit")
    cursor = given.get("cursor")
    if not 0 < len(q) <= MAX_QUERY_CHARS or by not in _FIELDS:
        return None
    if limit is not None and not (_LIMIT.fullmatch(limit) and int(limit) <= MAX_PAGE):
        return None
    if cursor is not None and len(cursor) > _CURSOR_MAX:
        return None
    return {
        "query": q,
        "field": SearchField(by),
        "limit": DEFAULT_PAGE if limit is None else int(limit),
        "cursor": cursor,
    }


def _handled_errors() -> tuple[type[Exception], ...]:
    from sqlalchemy.exc import OperationalError

    from identity.errors import IdentityError
    from workflow.errors import WorkflowError

    return (ApiError, IdentityError, WorkflowError, OperationalError)


class PersonFastPath:
    """ASGI middleware: the plain person read and search directly, everything else to
    ``app``."""

    def __init__(self, app: ASGIApp, *, fastapi: FastAPI) -> None:
        self.app = app
        self.fastapi = fastapi
        routes = {getattr(r, "name", None): r for r in fastapi.routes}
        self.route = routes[OPERATION]
        self.search_route = routes[SEARCH]
        self.errors = _handled_errors()

    def _plain(self, scope: Scope) -> tuple[Any, Read] | None:
        """The route and the read of a request this layer answers itself, if it is one."""
        hub: Hub = self.fastapi.state.hub
        if scope["path"] == _SEARCH_PATH:
            params = search_params(scope["query_string"])
            if params is None:
                return None
            return self.search_route, lambda session, access: search_persons(
                session, hub.policy, access, **params
            )
        match = _PATH.fullmatch(scope["path"])
        if match is None or scope["query_string"]:
            return None
        uid = match.group(1)
        scope.setdefault("path_params", {})["uid"] = uid
        return self.route, lambda session, access: read_person(session, hub.policy, access, uid)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        plain = self._plain(scope)
        if plain is None:
            await self.app(scope, receive, send)
            return
        route, read = plain
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
        scope["route"] = route  # metrics, access line and refusals name the route
        scope["app"] = self.fastapi
        try:
            response = await self._read(scope, route, read, authorization, purpose)
        except self.errors as exc:
            response = await handle_api_error(Request(scope, receive), exc)
        await response(scope, receive, send)

    async def _read(
        self, scope: Scope, route: Any, read: Read, authorization: str | None, purpose: str | None
    ) -> Response:
        hub: Hub = self.fastapi.state.hub
        where = route.path
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
                hub.policy.deny(session, access, route.name, refusal)

        else:

            def work() -> Response:
                return read_commit_respond(
                    session,
                    hub.policy,
                    access,
                    lambda: read(session, access),
                )

        try:
            response: Response = await run_in_threadpool(work)
        except BaseException:
            await run_in_threadpool(session.close)  # rolls back what was not committed
            raise
        session.close()  # committed: no I/O left
        return response


__all__ = ["PersonFastPath", "search_params"]
