"""Figures and audit trails: ``workflow.measures`` per the caller's scope, and the auditor's
three questions through ``audit.queries``.

Figures carry no personal data, so reading them is not logged; an auditor's question about a
person is itself an access to that person's history and is logged like any other read.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

import audit
from api import cursor as cursors
from api.config import MAX_PAGE
from api.errors import InvalidRequest
from api.person_record import check_uid
from api.policy import Access, Policy, sees_everything
from api.views import AccessEntry, AccessPage, Figures, StatsView
from identity import Permission
from identity.grids import is_grid_code
from workflow import measures
from workflow.measures import Figures as WorkflowFigures

MAX_WINDOW = timedelta(days=366)
_AUDIT = "audit"


class GroupBy(enum.StrEnum):
    ALL = "all"
    DISTRICT = "district"
    SUBDISTRICT = "subdistrict"
    COMMUNITY = "community"
    GRID = "grid"
    CATEGORY = "category"
    WORKER = "worker"
    ORG = "org"


class AuditQuery(enum.StrEnum):
    PERSON = "person"
    ACTOR = "actor"
    COUNTERPART = "counterpart"


def stats(
    session: Session, access: Access, *, start: datetime, end: datetime, group_by: GroupBy
) -> StatsView:
    """Measures over the tasks created in [start, end) in the caller's units, merged."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidRequest("start and end must carry a time zone")
    if not timedelta(0) < end - start <= MAX_WINDOW:
        raise InvalidRequest("the window must be positive and at most 366 days")
    principal = access.principal
    if sees_everything(principal):
        scopes: list[str | None] = [None]
    else:
        scopes = [g for g in sorted(principal.grids) if is_grid_code(g)]
    merged: dict[str, WorkflowFigures] = {}
    for scope in scopes:
        found = measures(session, start=start, end=end, group_by=group_by.value, scope=scope)
        for key, figures in found.items():
            merged.setdefault(key, WorkflowFigures()).counts.add(figures.counts)
    return StatsView(
        start=start,
        end=end,
        group_by=group_by.value,
        groups={key: Figures(**f.as_dict()) for key, f in sorted(merged.items())},
    )


def audit_trail(
    session: Session,
    policy: Policy,
    access: Access,
    query: AuditQuery,
    key: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = MAX_PAGE,
    cursor: str | None = None,
    archive_dir: Path | None = None,
) -> AccessPage:
    """Who accessed a person / what an actor did / what was exchanged with a system."""
    operation = f"audit.{query.value}"
    policy.require(session, access, Permission.READ_AUDIT, operation)
    policy.flush_reads()  # the reads this process has queued are in the answer too
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be 1 to {MAX_PAGE}", code="invalid_limit")
    if not 0 < len(key) <= 120 or not key.isprintable():
        raise InvalidRequest("the key must be 1 to 120 printable characters")
    after = cursors.decode_int(cursor, _AUDIT, "after") if cursor else None
    window: dict[str, Any] = {
        "since": since,
        "until": until,
        "after_seq": after,
        "limit": limit + 1,
        "archive_dir": archive_dir,
    }
    if query is AuditQuery.PERSON:
        rows = audit.who_accessed(session, check_uid(key), **window)
        refs: dict[str, list[str]] = {"persons": [key]}
    elif query is AuditQuery.ACTOR:
        rows = audit.by_actor(session, key, **window)
        refs = {"actors": [key]}
    else:
        rows = audit.by_counterpart(session, key, **window)
        refs = {"counterparts": [key]}
    more = len(rows) > limit
    items = [AccessEntry(**row.as_dict()) for row in rows[:limit]]
    persons = refs.pop("persons", [])
    policy.record_read(
        session, access, operation=operation, persons=persons, refs=refs, count=len(items)
    )
    return AccessPage(
        items=items,
        next_cursor=cursors.encode(_AUDIT, after=items[-1].seq) if more else None,
    )


__all__ = ["AuditQuery", "GroupBy", "audit_trail", "stats"]
