"""``/api/v1/events``: what happened in the caller's grid units, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.config import DEFAULT_PAGE, MAX_PAGE
from api.deps import DbSession, HubDep, ReadAccess
from api.events import list_events
from api.problems import problem_responses
from api.routes import respond
from api.views import EventPage

router = APIRouter(prefix="/api/v1/events", tags=["events"])


@router.get(
    "",
    name="event.list",
    operation_id="listEvents",
    summary="Events in the caller's grid units",
    response_model=EventPage,
    responses=problem_responses(401, 403, 422),
)
def events(
    session: DbSession,
    hub: HubDep,
    access: ReadAccess,
    type: Annotated[
        list[str] | None,
        Query(max_length=10, description="Only these event types (repeatable)."),
    ] = None,
    since: Annotated[datetime | None, Query(description="Occurred at or after (RFC 3339).")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """Payloads (free text from the reporting system) only with revealed identifiers."""
    return respond(
        list_events(
            session, hub.policy, access, types=type, since=since, limit=limit, cursor=cursor
        )
    )
