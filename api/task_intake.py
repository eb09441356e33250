"""Tasks raised directly by another platform (gRPC ``CreateTask``).

``workflow`` raises tasks from events (rules) and from orders for organisations, but has no
entry point for "this platform asks for this job in this grid". Until it grows one, this is
a thin seam built only from workflow's public parts — ``places.locate`` to find the unit,
``dispatch.assign`` to pick the worker, ``transitions.record_creation`` for the history — so
the task is dispatched and recorded exactly as a rule-raised task would be.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import InvalidRequest
from api.events import source_name
from api.person_record import check_uid
from api.policy import Access, Policy
from api.tasks import get_task, views
from api.views import TaskView
from canonical_model import Person, Task, TaskState, utcnow
from identity import Permission
from identity.grids import is_grid_code
from workflow import dispatch, places, transitions

CATEGORY = re.compile(r"[a-z0-9_.]{1,60}")
PRIORITIES = ("low", "normal", "high", "urgent")
DEFAULT_SLA = timedelta(hours=72)
MAX_SLA = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class TaskRequest:
    category: str
    title: str
    grid_code: str
    requester_ref: str
    person_uid: str | None = None
    priority: str = "normal"
    sla: timedelta = DEFAULT_SLA


def _check(request: TaskRequest) -> None:
    if not CATEGORY.fullmatch(request.category):
        raise InvalidRequest("category must match [a-z0-9_.]{1,60}")
    if not request.title.strip() or len(request.title) > 200:
        raise InvalidRequest("title must be 1 to 200 characters")
    if not is_grid_code(request.grid_code):
        raise InvalidRequest("grid_code must be a 6/9/12/15/18-digit unit code")
    if not 0 < len(request.requester_ref) <= 200 or not request.requester_ref.isprintable():
        raise InvalidRequest("requester_ref must be 1 to 200 printable characters")
    if request.priority not in PRIORITIES:
        raise InvalidRequest(f"priority must be one of {', '.join(PRIORITIES)}")
    if not timedelta(0) < request.sla <= MAX_SLA:
        raise InvalidRequest("sla must be positive and at most 90 days")


def create_task(
    session: Session, policy: Policy, access: Access, request: TaskRequest
) -> tuple[TaskView, bool]:
    """The task for ``requester_ref`` — raised now (True) or already (False)."""
    operation = "task.create"
    policy.require(session, access, Permission.PUBLISH_EVENT, operation)
    _check(request)
    source = source_name(access)
    existing = session.scalar(
        select(Task.uid).where(
            Task.requester_source == source, Task.requester_ref == request.requester_ref
        )
    )
    if existing is not None:
        return get_task(session, policy, access, existing), False
    refs: dict[str, list[str]] = {}
    person_id: int | None = None
    if request.person_uid:
        row = session.execute(
            select(Person.id, Person.grid_code).where(Person.uid == check_uid(request.person_uid))
        ).first()
        if row is None:
            raise InvalidRequest("person_uid names no person", code="unknown_person")
        refs["persons"] = [request.person_uid]
        policy.ensure_visible(session, access, row[1], operation=operation, refs=refs)
        person_id = row[0]
    policy.ensure_visible(session, access, request.grid_code, operation=operation, refs=refs)
    now = utcnow()
    task = Task(
        category=request.category,
        priority=request.priority,
        state=TaskState.PENDING,
        sla_deadline=now + request.sla,
        person_id=person_id,
        requester_source=source,
        requester_ref=request.requester_ref,
        title=request.title.strip(),
        created_at=now,
        updated_at=now,
        transitions=[],
    )
    place = places.locate(session, grid_code=request.grid_code, person_id=person_id)
    result = dispatch.assign(session, task, place, dispatch.WORKER)
    transitions.record_creation(
        task,
        actor=access.principal.subject[:80],
        role=access.principal.role.value,
        now=now,
        reason=f"requested by {source}; {result.kind} {result.assignee or '(queue)'}: "
        f"{result.reason}",
    )
    session.add(task)
    session.flush()
    view = views(session, [task])[0]
    policy.record_change(session, access, operation=operation, refs={**refs, "tasks": [view.uid]})
    return view, True


__all__ = ["CATEGORY", "PRIORITIES", "TaskRequest", "create_task"]
