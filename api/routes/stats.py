"""``/api/v1/stats``: task measures (``workflow.measures``) within the caller's grid units."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import CallerAccess, DbSession
from api.oversight import GroupBy, stats
from api.problems import problem_responses
from api.routes import respond
from api.views import StatsView

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])


@router.get(
    "",
    name="stats.get",
    operation_id="getStats",
    summary="Response, acceptance, resolution, on-time and satisfaction rates",
    response_model=StatsView,
    responses=problem_responses(401, 403, 422),
)
def get_stats(
    session: DbSession,
    access: CallerAccess,
    start: Annotated[
        datetime | None, Query(description="Tasks created from (RFC 3339); default 30 days ago.")
    ] = None,
    end: Annotated[datetime | None, Query(description="…until (exclusive); default now.")] = None,
    group_by: Annotated[GroupBy, Query()] = GroupBy.ALL,
) -> Response:
    """Figures over tasks created in the window, within the caller's grid units. Aggregates
    only, so reading them is not an access to personal data and is not logged."""
    until = end or datetime.now(UTC)
    return respond(
        stats(
            session, access, start=start or until - timedelta(days=30), end=until, group_by=group_by
        )
    )
