"""Orders for social organisations and volunteer teams: 下单, 点单, 接单.

A department places an order (下单) for a service in a place; a resident requests one
(点单) at home. Either becomes an open task for the organisations that offer the service
category in that area, and the first to take it (接单) gets it: the same optimistic lock
that stops two workers accepting one task stops two organisations taking one order. The
task stays in its grid, so the grid worker sees it (oversight) until it is closed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from canonical_model import Task, TaskState, utcnow
from canonical_model.roster import GridWorker, ServiceOrganisation
from workflow import dispatch, transitions
from workflow.errors import InvalidInput, NotPermitted
from workflow.lifecycle import get_task
from workflow.outbox import enqueue_for_task
from workflow.places import Place, locate

__all__ = ["open_orders", "oversight", "place_order", "request_service", "take_order"]


def _order(
    session: Session,
    *,
    service_category: str,
    place_code: str | None,
    person_id: int | None,
    title: str,
    sla: timedelta,
    actor: str,
    role: str,
    channel: str,
    org_code: str | None,
    reply_to: str | None,
    request_ref: str | None,
    now: datetime,
) -> Task:
    place = locate(session, grid_code=place_code, person_id=person_id)
    task = Task(
        category=service_category,
        priority="normal",
        state=TaskState.PENDING,
        sla_deadline=now + sla,
        person_id=person_id,
        requester_source=reply_to,
        requester_ref=request_ref,
        title=title[:200],
        created_at=now,
        updated_at=now,
        transitions=[],
    )
    if org_code is not None:
        if org_code not in {o.code for o in _eligible(session, service_category, place)}:
            raise InvalidInput(f"{org_code} does not offer {service_category} in this area")
        task.assignee_kind, task.assignee = "org", org_code
        task.grid_code = place.code if place else None
        why = f"{channel} to {org_code}"
    else:
        result = dispatch.assign(
            session, task, place, "organisation", service_category=service_category
        )
        why = f"{channel}: {result.reason}"
    transitions.record_creation(task, actor=actor, role=role, now=now, reason=why)
    session.add(task)
    session.flush()
    return task


def _eligible(session: Session, category: str, place: Place | None) -> list[ServiceOrganisation]:
    return dispatch.eligible_organisations(session, category, place.code if place else None)


def place_order(
    session: Session,
    *,
    department: str,
    service_category: str,
    place_code: str,
    title: str,
    sla: timedelta = timedelta(days=7),
    org_code: str | None = None,
    request_ref: str | None = None,
    now: datetime | None = None,
) -> Task:
    """下单: a department orders a service for a place (open, or to a named organisation)."""
    return _order(
        session,
        service_category=service_category,
        place_code=place_code,
        person_id=None,
        title=title,
        sla=sla,
        actor=department,
        role="department",
        channel="下单",
        org_code=org_code,
        reply_to=department if request_ref else None,
        request_ref=request_ref,
        now=now or utcnow(),
    )


def request_service(
    session: Session,
    *,
    person_id: int,
    service_category: str,
    title: str,
    requested_by: str = "resident",
    sla: timedelta = timedelta(days=7),
    now: datetime | None = None,
) -> Task:
    """点单: a resident asks for a service at home; organisations of the area may take it."""
    return _order(
        session,
        service_category=service_category,
        place_code=None,
        person_id=person_id,
        title=title,
        sla=sla,
        actor=requested_by,
        role="requester",
        channel="点单",
        org_code=None,
        reply_to=None,
        request_ref=None,
        now=now or utcnow(),
    )


def open_orders(session: Session, org_code: str, limit: int = 200) -> list[Task]:
    """Orders this organisation may take: its categories, its areas, nobody's yet."""
    org = session.scalars(
        select(ServiceOrganisation).where(ServiceOrganisation.code == org_code)
    ).first()
    if org is None or not org.active:
        return []
    candidates = session.scalars(
        select(Task)
        .where(
            Task.assignee_kind == "org",
            Task.assignee.is_(None),
            Task.state == TaskState.PENDING,
            Task.category.in_(org.categories or []),
        )
        .order_by(Task.sla_deadline)
        .limit(limit * 5)
    ).all()
    areas = tuple(org.area_codes or ())
    return [t for t in candidates if t.grid_code and t.grid_code.startswith(areas)][:limit]


def take_order(
    session: Session,
    uid: str,
    *,
    org_code: str,
    actor: str | None = None,
    now: datetime | None = None,
) -> Task:
    """接单: an eligible organisation takes an open order; a lost race is TaskConflict."""
    now = now or utcnow()
    task = get_task(session, uid)
    if task.assignee_kind != "org" or task.assignee not in (None, org_code):
        raise NotPermitted(uid, org_code, "take", "not an open order")
    eligible = dispatch.eligible_organisations(session, task.category, task.grid_code)
    if org_code not in {o.code for o in eligible}:
        raise NotPermitted(uid, org_code, "take", "category or area not served")
    transitions.apply(task, "accept", actor=actor or org_code, role="org", now=now)
    task.assignee = org_code
    transitions.flush_or_conflict(session, task, "take")
    enqueue_for_task(session, task, "status_update", seq=len(task.transitions), now=now)
    session.flush()
    return task


def oversight(session: Session, worker_code: str) -> list[Task]:
    """Organisation tasks in a worker's grid that are not closed: what they keep an eye on."""
    worker = session.scalars(select(GridWorker).where(GridWorker.code == worker_code)).first()
    if worker is None:
        return []
    return list(
        session.scalars(
            select(Task)
            .where(
                Task.grid_code.startswith(worker.grid_code),
                Task.assignee_kind == "org",
                Task.state != TaskState.CLOSED,
            )
            .order_by(Task.sla_deadline)
        )
    )
