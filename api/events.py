"""Events for the serving layers: a page of the caller's events, a resumable feed, intake.

The feed (:class:`EventFeed`) walks events in id order with a resume token holding the last
id it has *settled*. Ids are handed out at insert but become visible at commit, so a lower
id can appear after a higher one: the feed does not move past a gap in the ids until the gap
is older than a grace period (then it was a rollback, not a slow commit). Gaps are found on
the unfiltered id sequence; scope and type filters apply afterwards, and the token advances
over invisible events too, so a quiet subscriber's token stays current.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import workflow
from api import cursor as cursors
from api.config import DEFAULT_PAGE, MAX_PAGE
from api.errors import InvalidRequest
from api.person_record import EVENT_COLUMNS, check_uid, event_view
from api.policy import Access, Policy
from api.views import EventPage, EventView
from canonical_model import Event, Person, Severity
from identity import Permission
from identity.grids import is_grid_code
from identity.roles import Role

_PAGE = "events"
_RESUME = "event-feed"
TYPE = re.compile(r"[a-z0-9_.]{1,60}")
MAX_PAYLOAD_BYTES = 64 * 1024
FEED_BATCH = 200


def check_type(value: str) -> str:
    if not TYPE.fullmatch(value):
        raise InvalidRequest("event type must match [a-z0-9_.]{1,60}", code="invalid_type")
    return value


def list_events(
    session: Session,
    policy: Policy,
    access: Access,
    *,
    types: list[str] | None = None,
    since: datetime | None = None,
    limit: int = DEFAULT_PAGE,
    cursor: str | None = None,
) -> EventPage:
    """Newest first (by uid, which sorts by creation time)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be 1 to {MAX_PAGE}", code="invalid_limit")
    stmt = (
        select(*EVENT_COLUMNS, Person.uid)
        .outerjoin(Person, Person.id == Event.person_id)
        .where(policy.scope(access.principal, Event.grid_code))
        .order_by(Event.uid.desc())
        .limit(limit + 1)
    )
    if types:
        stmt = stmt.where(Event.type.in_([check_type(t) for t in types]))
    if since is not None:
        stmt = stmt.where(Event.occurred_at >= since)
    if cursor:
        stmt = stmt.where(Event.uid < cursors.decode_str(cursor, _PAGE, "before", 26))
    rows = session.execute(stmt).all()
    more = len(rows) > limit
    items = [
        event_view(row, access.redactor, row[10])
        for row in rows[:limit]
        if policy.visible(access.principal, row[4])
    ]
    log_events(session, policy, access, items, "event.list")
    return EventPage(
        items=items,
        next_cursor=cursors.encode(_PAGE, before=rows[limit - 1][0]) if more else None,
        masked=not access.redactor.clear,
    )


def log_events(
    session: Session, policy: Policy, access: Access, items: list[EventView], operation: str
) -> None:
    persons = [e.person_uid for e in items if e.person_uid]
    policy.record_read(
        session,
        access,
        operation=operation,
        persons=persons,
        fields=("payload",) if access.redactor.clear else (),
        refs={"events": [e.uid for e in items]},
        count=len(items),
    )


# --- the resumable feed ---------------------------------------------------------------------


def encode_resume(watermark: int) -> str:
    return cursors.encode(_RESUME, after=watermark)


def decode_resume(token: str) -> int:
    return cursors.decode_int(token, _RESUME, "after")


@dataclass(slots=True)
class EventFeed:
    """One subscriber's position; see the module docstring for the gap rule."""

    access: Access
    policy: Policy
    watermark: int
    types: frozenset[str] = frozenset()
    gap_grace: float = 2.0
    _gaps: dict[int, float] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        session: Session,
        policy: Policy,
        access: Access,
        *,
        resume_token: str = "",
        replay: bool = False,
        types: frozenset[str] = frozenset(),
        gap_grace: float = 2.0,
    ) -> EventFeed:
        if resume_token:
            watermark = decode_resume(resume_token)
        elif replay:
            watermark = 0
        else:
            watermark = int(session.scalar(select(func.max(Event.id))) or 0)
        return cls(access, policy, watermark, frozenset(check_type(t) for t in types), gap_grace)

    @property
    def resume_token(self) -> str:
        return encode_resume(self.watermark)

    def poll(self, session: Session, now: float | None = None) -> list[tuple[int, EventView]]:
        """The next visible events with their positions (logged in ``session``).

        Advances the watermark; an event's position is a valid resume point on its own,
        since everything below it is settled.
        """
        clock = time.monotonic() if now is None else now
        rows = session.execute(
            select(Event.id, *EVENT_COLUMNS, Person.uid)
            .outerjoin(Person, Person.id == Event.person_id)
            .where(Event.id > self.watermark)
            .order_by(Event.id)
            .limit(FEED_BATCH)
        ).all()
        delivered: list[tuple[int, EventView]] = []
        expected = self.watermark + 1
        for row in rows:
            if row[0] > expected and not self._gap_settled(expected, row[0], clock):
                break
            self.watermark = row[0]
            expected = row[0] + 1
            if self.types and row[2] not in self.types:
                continue
            if self.policy.visible(self.access.principal, row[5]):
                view = event_view(row[1:], self.access.redactor, row[11])
                delivered.append((row[0], view))
        self._gaps = {gap: seen for gap, seen in self._gaps.items() if gap > self.watermark}
        if delivered:
            views = [view for _, view in delivered]
            log_events(session, self.policy, self.access, views, "event.subscribe")
        return delivered

    def _gap_settled(self, first: int, end: int, clock: float) -> bool:
        """True once ids ``first..end-1`` have been missing for longer than the grace."""
        seen = self._gaps.setdefault(first, clock)
        return clock - seen >= self.gap_grace


# --- intake ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventReport:
    type: str
    occurred_at: datetime
    source_ref: str
    severity: str = "medium"
    grid_code: str | None = None
    person_uid: str | None = None
    dedup_key: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Intake:
    event_uid: str
    status: str
    task_uids: list[str]


def publish(session: Session, policy: Policy, access: Access, report: EventReport) -> Intake:
    """Into workflow's intake (dedup, rules, dispatch) under the caller's name and scope."""
    operation = "event.publish"
    policy.require(session, access, Permission.PUBLISH_EVENT, operation)
    _check_report(report)
    person_id: int | None = None
    refs: dict[str, Any] = {}
    if report.person_uid:
        row = session.execute(
            select(Person.id, Person.grid_code).where(Person.uid == check_uid(report.person_uid))
        ).first()
        if row is None:
            raise InvalidRequest("person_uid names no person", code="unknown_person")
        refs["persons"] = [report.person_uid]
        policy.ensure_visible(session, access, row[1], operation=operation, refs=refs)
        person_id = row[0]
    if report.grid_code is not None:
        policy.ensure_visible(session, access, report.grid_code, operation=operation, refs=refs)
    elif not policy.visible(access.principal, None):
        raise InvalidRequest("grid_code is required for a token scoped to grid units")
    published = workflow.publish_event(
        session,
        type=report.type,
        occurred_at=report.occurred_at,
        source=source_name(access),
        source_ref=report.source_ref,
        severity=report.severity,
        person_id=person_id,
        grid_code=report.grid_code,
        dedup_key=report.dedup_key,
        payload=report.payload,
    )
    intake = Intake(
        event_uid=published.intake.event.uid,
        status=published.intake.status.value,
        task_uids=[t.uid for t in published.tasks],
    )
    policy.record_change(
        session,
        access,
        operation=operation,
        refs={**refs, "events": [intake.event_uid], "tasks": intake.task_uids},
    )
    return intake


def source_name(access: Access) -> str:
    """The source a platform reports as: its own subject, so it cannot speak for another."""
    if access.principal.role is not Role.PLATFORM:
        return "api"
    return access.principal.subject[:40]


def _check_report(report: EventReport) -> None:
    check_type(report.type)
    if report.occurred_at.tzinfo is None:
        raise InvalidRequest("occurred_at must carry a time zone")
    if not 0 < len(report.source_ref) <= 200 or not report.source_ref.isprintable():
        raise InvalidRequest("source_ref must be 1 to 200 printable characters")
    if report.dedup_key is not None and not 0 < len(report.dedup_key) <= 200:
        raise InvalidRequest("dedup_key must be 1 to 200 characters")
    if report.grid_code is not None and not is_grid_code(report.grid_code):
        raise InvalidRequest("grid_code must be a 6/9/12/15/18-digit unit code")
    if report.severity not in {s.value for s in Severity}:
        raise InvalidRequest("unknown severity")
    if len(json.dumps(report.payload, ensure_ascii=False, default=str)) > MAX_PAYLOAD_BYTES:
        raise InvalidRequest("payload is larger than 64 KiB")


__all__ = [
    "EventFeed",
    "EventReport",
    "Intake",
    "check_type",
    "decode_resume",
    "encode_resume",
    "list_events",
    "publish",
    "source_name",
]
