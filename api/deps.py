"""FastAPI dependencies, as ``Annotated`` aliases the routers declare parameters with.

``DbSession`` is function-scoped: its transaction commits right after the handler returns and
*before* the response is sent, so a read's exchange-log entry is durable (or at least
committed) before the data leaves; if the commit fails the client gets a 5xx, not the data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.auth import authenticate, authenticate_cached
from api.context import Hub
from api.middleware import request_id, route_template
from api.policy import REST, Access
from identity import Principal

bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="A JWT signed by the hub (see /.well-known/jwks.json) or the district's "
    "identity provider; it names the caller's role, grid units and allowed purposes.",
)


async def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


async def current_principal(
    request: Request,
    hub: HubDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """Async so a cached token costs no thread hop; a new token is verified off the loop."""
    del credentials  # declared for the OpenAPI security scheme; the raw header is parsed
    header = request.headers.get("authorization")
    where = route_template(request.scope)
    peer = request.client.host if request.client else "-"
    found = authenticate_cached(hub, header, channel=REST, where=where, peer=peer)
    if found is not None:
        return found
    return await run_in_threadpool(authenticate, hub, header, channel=REST, where=where, peer=peer)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def db_session(request: Request, hub: HubDep) -> AsyncIterator[Session]:
    """The request's unit of work: commit when the handler returns, roll back if it raises.

    Async with the blocking end pushed to a worker thread: opening a session does no I/O
    (the transaction begins with the first statement), so only the commit costs a hop.
    A request that may change something first lands the read entries this process has
    queued, so a caller's read is chained before the change it made next.
    """
    if request.method not in _READS and hub.policy.reads is not None and hub.policy.reads.pending:
        await run_in_threadpool(hub.flush_reads)
    session = hub.sessions()
    try:
        yield session
    except BaseException:
        await run_in_threadpool(session.close)  # close rolls back what was not committed
        raise
    if session.in_transaction():
        await run_in_threadpool(_commit_and_close, session)
    else:  # the handler committed in its own hop (``read_and_respond``): no I/O left
        session.close()


def _commit_and_close(session: Session) -> None:
    try:
        session.commit()
    finally:
        session.close()


DbSession = Annotated[Session, Depends(db_session, scope="function")]

PurposeHeader = Annotated[
    str | None,
    Header(
        alias="X-Purpose",
        max_length=48,
        description="Why the caller needs the data, from the hub's purpose vocabulary "
        "(`welfare_visit`, `emergency_response`, `hotline_case`, `audit`, `data_quality`). "
        "Required with `reveal=true`; must be one of the purposes the token lists.",
    ),
]
RevealQuery = Annotated[
    bool,
    Query(
        description="Show identifiers in clear. Needs `X-Purpose`, a role allowed to unmask "
        "and a token that lists the purpose; otherwise 422/403.",
    ),
]


def _operation(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "name", None) or "api")


async def _access(
    request: Request,
    hub: Hub,
    principal: Principal,
    session: Session,
    purpose: str | None,
    reveal: bool,
) -> Access:
    access, refusal = hub.policy.assess(
        principal,
        channel=REST,
        correlation_id=request_id(request.scope),
        purpose=purpose,
        reveal=reveal,
    )
    if refusal is not None:  # logging the refusal writes: off the loop
        await run_in_threadpool(hub.policy.deny, session, access, _operation(request), refusal)
    return access


async def read_access(
    request: Request,
    hub: HubDep,
    principal: CurrentPrincipal,
    session: DbSession,
    purpose: PurposeHeader = None,
    reveal: RevealQuery = False,
) -> Access:
    return await _access(request, hub, principal, session, purpose, reveal)


async def caller_access(
    request: Request,
    hub: HubDep,
    principal: CurrentPrincipal,
    session: DbSession,
    purpose: PurposeHeader = None,
) -> Access:
    return await _access(request, hub, principal, session, purpose, False)


ReadAccess = Annotated[Access, Depends(read_access)]
CallerAccess = Annotated[Access, Depends(caller_access)]

__all__ = [
    "CallerAccess",
    "CurrentPrincipal",
    "DbSession",
    "HubDep",
    "PurposeHeader",
    "ReadAccess",
    "RevealQuery",
    "bearer_scheme",
    "current_principal",
    "get_hub",
]
