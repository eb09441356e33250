"""``/api/v1/audit``: the auditor's questions over the exchange log (role ``auditor`` only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from api.config import MAX_PAGE
from api.deps import CallerAccess, DbSession, HubDep
from api.oversight import AuditQuery, audit_trail
from api.problems import problem_responses
from api.routes import respond
from api.routes.persons import UID_PATTERN
from api.views import AccessPage

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Since = Annotated[datetime | None, Query(description="From (RFC 3339, inclusive).")]
Until = Annotated[datetime | None, Query(description="Until (RFC 3339, exclusive).")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Cursor = Annotated[str | None, Query(max_length=256)]
RESPONSES = problem_responses(401, 403, 422)


@router.get(
    "/persons/{uid}/accesses",
    name="audit.person",
    operation_id="whoAccessedPerson",
    summary="Every exchange that touched this person's data",
    response_model=AccessPage,
    responses=RESPONSES,
)
def who_accessed(
    session: DbSession,
    hub: HubDep,
    access: CallerAccess,
    uid: Annotated[str, Path(pattern=UID_PATTERN)],
    since: Since = None,
    until: Until = None,
    limit: Limit = MAX_PAGE,
    cursor: Cursor = None,
) -> Response:
    return respond(
        audit_trail(
            session,
            hub.policy,
            access,
            AuditQuery.PERSON,
            uid,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
            archive_dir=hub.archive_dir,
        )
    )


@router.get(
    "/actors/{subject}/accesses",
    name="audit.actor",
    operation_id="accessesByActor",
    summary="What one user or service account did",
    response_model=AccessPage,
    responses=RESPONSES,
)
def by_actor(
    session: DbSession,
    hub: HubDep,
    access: CallerAccess,
    subject: Annotated[str, Path(min_length=1, max_length=120)],
    since: Since = None,
    until: Until = None,
    limit: Limit = MAX_PAGE,
    cursor: Cursor = None,
) -> Response:
    return respond(
        audit_trail(
            session,
            hub.policy,
            access,
            AuditQuery.ACTOR,
            subject,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
            archive_dir=hub.archive_dir,
        )
    )


@router.get(
    "/counterparts/{name}/accesses",
    name="audit.counterpart",
    operation_id="accessesByCounterpart",
    summary="Everything exchanged with one system",
    response_model=AccessPage,
    responses=RESPONSES,
)
def by_counterpart(
    session: DbSession,
    hub: HubDep,
    access: CallerAccess,
    name: Annotated[str, Path(min_length=1, max_length=80)],
    since: Since = None,
    until: Until = None,
    limit: Limit = MAX_PAGE,
    cursor: Cursor = None,
) -> Response:
    return respond(
        audit_trail(
            session,
            hub.policy,
            access,
            AuditQuery.COUNTERPART,
            name,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
            archive_dir=hub.archive_dir,
        )
    )
