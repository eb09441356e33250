"""Intake of events: one incident, one event, however many times it is reported.

Five neighbours calling about one burst pipe are five reports of one event, and must
become one task, not five workers at one door. Reports join an event when they carry the
same de-duplication key (e.g. category + building) within a time window and the event is
still being handled; a report already seen (same source and source reference) is a
no-op, so producers and gateways may safely send again after a crash.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from canonical_model import Event, EventReport, GridUnit, Severity, Task, TaskState, utcnow

__all__ = ["DEFAULT_WINDOW", "EventIntake", "IntakeStatus", "raise_event"]

DEFAULT_WINDOW = timedelta(hours=12)
_SEVERITY_ORDER = {s: i for i, s in enumerate(Severity)}
_OPEN = (TaskState.PENDING, TaskState.ACCEPTED, TaskState.REJECTED, TaskState.IN_PROGRESS)


class IntakeStatus(enum.StrEnum):
    NEW = "new"  # a new event: the caller triages it
    JOINED = "joined"  # another report of an event being handled
    DUPLICATE = "duplicate"  # this (source, source_ref) was taken in before


@dataclass(frozen=True, slots=True)
class EventIntake:
    event: Event
    report: EventReport
    status: IntakeStatus


# Built once: every report raised asks it first.
_SEEN = select(EventReport).where(
    EventReport.source == bindparam("source"), EventReport.source_ref == bindparam("source_ref")
)


def _open_match(
    session: Session, dedup_key: str, occurred_at: datetime, window: timedelta
) -> Event | None:
    """The event this report belongs to: same key, within the window, not yet dealt with.

    An event whose tasks are all completed or closed does not take new reports: the pipe
    burst again, and that is a new job.
    """
    has_task = exists().where(Task.event_id == Event.id)
    has_open_task = exists().where(Task.event_id == Event.id, Task.state.in_(_OPEN))
    return session.scalars(
        select(Event)
        .where(
            Event.dedup_key == dedup_key,
            Event.occurred_at >= occurred_at - window,
            Event.occurred_at <= occurred_at + window,
            ~has_task | has_open_task,
        )
        .order_by(Event.occurred_at)
        .limit(1)
    ).first()


def raise_event(
    session: Session,
    *,
    type: str,
    occurred_at: datetime,
    source: str,
    source_ref: str,
    severity: Severity | str = Severity.MEDIUM,
    person_id: int | None = None,
    address_id: int | None = None,
    grid_code: str | None = None,
    dedup_key: str | None = None,
    payload: dict[str, Any] | None = None,
    window: timedelta = DEFAULT_WINDOW,
    now: datetime | None = None,
) -> EventIntake:
    """Take in one report; returns the event it created or joined, and which it was.

    ``grid_code`` may name any unit (a building is best); an unknown code is dropped, not
    refused, so the report is kept and dispatch falls back to what else is known.
    """
    if occurred_at.tzinfo is None:
        raise ValueError("occurred_at must be timezone-aware")
    now = now or utcnow()
    severity = Severity(severity)
    payload = dict(payload or {})
    seen = session.scalars(_SEEN, {"source": source, "source_ref": source_ref}).first()
    if seen is not None:
        return EventIntake(seen.event, seen, IntakeStatus.DUPLICATE)
    if grid_code is not None and session.get(GridUnit, grid_code) is None:
        grid_code = None

    event = _open_match(session, dedup_key, occurred_at, window) if dedup_key else None
    status = IntakeStatus.JOINED if event is not None else IntakeStatus.NEW
    try:
        with session.begin_nested():
            if event is None:
                event = Event(
                    type=type,
                    severity=severity,
                    occurred_at=occurred_at,
                    person_id=person_id,
                    address_id=address_id,
                    grid_code=grid_code,
                    source=source,
                    source_ref=source_ref,
                    dedup_key=dedup_key,
                    payload=payload,
                    report_count=0,
                    created_at=now,
                )
                session.add(event)
            else:
                if _SEVERITY_ORDER[severity] > _SEVERITY_ORDER[Severity(event.severity)]:
                    event.severity = severity
                # a later report may know more than the first (who, where)
                event.person_id = event.person_id or person_id
                event.address_id = event.address_id or address_id
                event.grid_code = event.grid_code or grid_code
            event.report_count = (event.report_count or 0) + 1
            report = EventReport(
                event=event, source=source, source_ref=source_ref, received_at=now, payload=payload
            )
            session.add(report)
            session.flush()
    except IntegrityError:  # the same report, taken in concurrently by another session
        seen = session.scalars(
            select(EventReport).where(
                EventReport.source == source, EventReport.source_ref == source_ref
            )
        ).one()
        return EventIntake(seen.event, seen, IntakeStatus.DUPLICATE)
    return EventIntake(event, report, status)
