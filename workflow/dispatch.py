"""Who gets a task: the place's grid, its on-duty workers, the least loaded of them.

A task that cannot reach a worker (no known place, nobody on duty, everyone refused) is
never dropped: it waits in the queue of the community (or, failing a place, the district),
where an admin sees it and :func:`dispatch_waiting` retries it when someone comes on duty.
Organisations are chosen by service category and area; the grid worker of the place
keeps oversight because the task stays in that grid.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from canonical_model import GridLevel, Task, TaskState
from canonical_model.roster import GridWorker, ServiceOrganisation
from workflow import transitions
from workflow.places import LEVEL_LENGTHS, Place, ancestor, home_district, place_of

__all__ = [
    "Assignment",
    "assign",
    "dispatch_waiting",
    "eligible_organisations",
    "escalation_target",
    "open_load",
    "pick_worker",
    "redispatch",
    "rejecters",
]

WORKER = "grid_worker"
COMMUNITY_ADMIN = "community_admin"
DISTRICT_ADMIN = "district_admin"


@dataclass(frozen=True, slots=True)
class Assignment:
    kind: str  # worker, org, community, district
    assignee: str | None
    place: str | None
    reason: str


# Built once: every task raised runs these, and building a statement costs more than running it.
_OPEN_LOAD = (
    select(Task.assignee, func.count())
    .where(
        Task.assignee.in_(bindparam("codes", expanding=True)),
        Task.state.in_(transitions.OPEN_STATES),
    )
    .group_by(Task.assignee)
)
_ON_DUTY = select(GridWorker).where(
    GridWorker.grid_code == bindparam("grid_code"),
    GridWorker.role == WORKER,
    GridWorker.active.is_(True),
    GridWorker.on_duty.is_(True),
)


def open_load(session: Session, codes: Collection[str]) -> dict[str, int]:
    """Open tasks per assignee code (pending, accepted, in progress)."""
    if not codes:
        return {}
    rows = session.execute(_OPEN_LOAD, {"codes": list(codes)}).all()
    return {str(code): int(n) for code, n in rows}


def pick_worker(
    session: Session, grid_code: str, exclude: Collection[str] = ()
) -> GridWorker | None:
    """The on-duty worker of the grid with the fewest open tasks (ties: by code)."""
    workers = [
        w for w in session.scalars(_ON_DUTY, {"grid_code": grid_code}) if w.code not in exclude
    ]
    if not workers:
        return None
    load = open_load(session, [w.code for w in workers])
    return min(workers, key=lambda w: (load.get(w.code, 0), w.code))


def _admin(session: Session, unit: str | None, role: str) -> GridWorker | None:
    if unit is None:
        return None
    return session.scalars(
        select(GridWorker)
        .where(GridWorker.grid_code == unit, GridWorker.role == role, GridWorker.active.is_(True))
        .order_by(GridWorker.code)
        .limit(1)
    ).first()


def escalation_target(session: Session, grid_code: str | None, level: int) -> GridWorker | None:
    """Level 1: the community admin of the place; level 2 and up: the district admin."""
    if grid_code is None:
        return None
    if level <= 1:
        return _admin(session, ancestor(grid_code, GridLevel.COMMUNITY), COMMUNITY_ADMIN)
    return _admin(session, ancestor(grid_code, GridLevel.DISTRICT), DISTRICT_ADMIN)


def eligible_organisations(
    session: Session, service_category: str, place_code: str | None
) -> list[ServiceOrganisation]:
    """Active organisations offering the category and serving an area holding the place."""
    orgs = session.scalars(
        select(ServiceOrganisation)
        .where(ServiceOrganisation.active.is_(True))
        .order_by(ServiceOrganisation.code)
    ).all()
    return [
        o
        for o in orgs
        if service_category in (o.categories or [])
        and place_code is not None
        and any(place_code.startswith(area) for area in (o.area_codes or []))
    ]


def _queue(session: Session, place: Place | None, why: str) -> Assignment:
    """The community's queue for a known place, else the district's: unassigned, in view."""
    if place is not None and place.community is not None:
        return Assignment("community", None, place.code, why)
    district = place if place is not None else home_district(session)
    return Assignment("district", None, district.district if district else None, why)


def _to_admin(session: Session, place: Place | None, level: str) -> Assignment:
    """A rule that wants an admin's decision, not a worker's legwork."""
    unit: str | None
    if level == "community" and place is not None and place.community is not None:
        unit, role = place.community, COMMUNITY_ADMIN
    else:
        district = place if place is not None else home_district(session)
        unit, role = (district.district if district else None), DISTRICT_ADMIN
    admin = _admin(session, unit, role)
    code = place.code if place is not None else unit
    return Assignment("admin", admin.code if admin else None, code, f"rule sends it to the {level}")


def assign(
    session: Session,
    task: Task,
    place: Place | None,
    mode: str = "grid_worker",
    *,
    service_category: str | None = None,
    exclude: Collection[str] = (),
) -> Assignment:
    """Decide and set ``task``'s assignee; the reason says why, without personal data."""
    if mode == "organisation" and service_category:
        code = place.code if place is not None else None
        if eligible_organisations(session, service_category, code):
            result = Assignment("org", None, code, f"open order for {service_category}")
        else:
            result = _worker_or_queue(session, place, exclude)
            result = Assignment(
                result.kind,
                result.assignee,
                result.place,
                f"no organisation offers {service_category} here; {result.reason}",
            )
    elif mode in ("community", "district"):
        result = _to_admin(session, place, mode)
    else:
        result = _worker_or_queue(session, place, exclude)
    task.assignee_kind = result.kind
    task.assignee = result.assignee
    task.grid_code = result.place
    return result


def _worker_or_queue(session: Session, place: Place | None, exclude: Collection[str]) -> Assignment:
    if place is None:
        return _queue(session, None, "place unknown: district queue")
    if place.is_grid:
        worker = pick_worker(session, place.code, exclude)
        if worker is not None:
            return Assignment("worker", worker.code, place.code, "on-duty worker, least loaded")
        return _queue(session, place, "no worker on duty in the grid: community queue")
    return _queue(session, place, f"place known only to {place.level} level")


def rejecters(task: Task) -> set[str]:
    return {t.actor for t in task.transitions if t.action == "reject"}


def redispatch(session: Session, task: Task, *, now: datetime, actor: str = "system") -> Assignment:
    """After a refusal: another worker of the grid, or the community queue."""
    place = place_of(task.grid_code) if task.grid_code else None
    result = _worker_or_queue(session, place, rejecters(task))
    task.assignee_kind = result.kind
    task.assignee = result.assignee
    task.grid_code = result.place or task.grid_code
    transitions.apply(
        task,
        "redispatch",
        actor=actor,
        role="system",
        now=now,
        reason=f"{result.kind} {result.assignee or '(queue)'}: {result.reason}",
    )
    return result


def dispatch_waiting(session: Session, *, now: datetime, limit: int = 1000) -> int:
    """Queued tasks of a known grid go to a worker who is now on duty; returns how many."""
    waiting = session.scalars(
        select(Task)
        .where(
            Task.state == TaskState.PENDING,
            Task.assignee_kind == "community",
            func.length(Task.grid_code) == LEVEL_LENGTHS[GridLevel.GRID],
        )
        .order_by(Task.id)
        .limit(limit)
    ).all()
    moved = 0
    for task in waiting:
        assert task.grid_code is not None
        worker = pick_worker(session, task.grid_code, rejecters(task))
        if worker is None:
            continue
        transitions.apply(
            task, "assign", actor="system", role="system", now=now, reason=f"to {worker.code}"
        )
        task.assignee_kind, task.assignee = "worker", worker.code
        moved += 1
    return moved
