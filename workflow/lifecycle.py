"""What a worker, an admin or the requester does to a task, one function per act.

pending (待确认) → accepted (已接单) | rejected (已拒绝, re-dispatched) → in_progress →
completed (已完成, feedback and photos) → closed (confirmed and rated, or auto-closed).

Each function checks the state machine and who may act, records the transition, writes
the write-back to the outbox in the same transaction, and flushes at once so a lost race
against another session surfaces as :class:`TaskConflict` right here, not at commit.
The caller owns the transaction (``with transaction(sessions) as s: accept(s, …)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from canonical_model import Task, TaskAttachment, TaskFeedback, utcnow
from canonical_model.roster import GridWorker
from workflow import dispatch, transitions
from workflow.attachments import Photo, PhotoStore
from workflow.errors import InvalidInput, NotAssignee, NotPermitted, TaskNotFound
from workflow.outbox import enqueue_for_task

__all__ = [
    "RESULTS",
    "accept",
    "auto_close",
    "close",
    "complete",
    "escalate",
    "get_task",
    "reassign",
    "reject",
    "start",
]

RESULTS = ("resolved", "unresolved", "referred", "no_action_needed")


def get_task(session: Session, uid: str) -> Task:
    task = session.scalars(select(Task).where(Task.uid == uid)).first()
    if task is None:
        raise TaskNotFound(uid)
    return task


def _check_actor(task: Task, actor: str, role: str | None, action: str) -> None:
    if role in transitions.ADMIN_ROLES:
        return
    if task.assignee != actor:
        raise NotAssignee(task.uid, actor, action)


def accept(
    session: Session,
    uid: str,
    *,
    actor: str,
    role: str = "grid_worker",
    now: datetime | None = None,
) -> Task:
    """已接单. Two workers racing for one task: one wins, the other gets TaskConflict."""
    now = now or utcnow()
    task = get_task(session, uid)
    _check_actor(task, actor, role, "accept")
    transitions.apply(task, "accept", actor=actor, role=role, now=now)
    transitions.flush_or_conflict(session, task, "accept")
    enqueue_for_task(session, task, "status_update", seq=len(task.transitions), now=now)
    session.flush()
    return task


def reject(
    session: Session,
    uid: str,
    *,
    actor: str,
    reason: str,
    role: str = "grid_worker",
    now: datetime | None = None,
) -> Task:
    """已拒绝, with a reason; the task goes straight on to another worker or the queue."""
    if not reason.strip():
        raise InvalidInput("a rejection needs a reason")
    now = now or utcnow()
    task = get_task(session, uid)
    _check_actor(task, actor, role, "reject")
    transitions.apply(task, "reject", actor=actor, role=role, now=now, reason=reason.strip())
    transitions.flush_or_conflict(session, task, "reject")
    dispatch.redispatch(session, task, now=now)
    transitions.flush_or_conflict(session, task, "reject")
    return task


def start(
    session: Session,
    uid: str,
    *,
    actor: str,
    role: str = "grid_worker",
    now: datetime | None = None,
) -> Task:
    now = now or utcnow()
    task = get_task(session, uid)
    _check_actor(task, actor, role, "start")
    transitions.apply(task, "start", actor=actor, role=role, now=now)
    transitions.flush_or_conflict(session, task, "start")
    return task


def complete(
    session: Session,
    uid: str,
    *,
    actor: str,
    result: str,
    notes: str | None = None,
    photos: Sequence[Photo] = (),
    location: tuple[float, float] | None = None,
    store: PhotoStore | None = None,
    role: str = "grid_worker",
    now: datetime | None = None,
) -> Task:
    """已完成: the result, notes, photos (by sha256) and where the worker stood."""
    if result not in RESULTS:
        raise InvalidInput(f"result must be one of {', '.join(RESULTS)}")
    if photos and store is None:
        raise InvalidInput("photos need a PhotoStore to be kept in")
    now = now or utcnow()
    task = get_task(session, uid)
    _check_actor(task, actor, role, "complete")
    transitions.apply(task, "complete", actor=actor, role=role, now=now)
    transitions.flush_or_conflict(session, task, "complete")
    feedback = TaskFeedback(
        result=result,
        notes=notes,
        latitude=location[0] if location else None,
        longitude=location[1] if location else None,
        actor=actor,
        at=now,
    )
    hashes: list[str] = []
    for photo in photos:
        assert store is not None
        digest = store.put(photo.data)
        if digest not in hashes:
            hashes.append(digest)
            feedback.attachments.append(
                TaskAttachment(sha256=digest, media_type=photo.media_type, size=len(photo.data))
            )
    task.feedback.append(feedback)
    enqueue_for_task(
        session,
        task,
        "completion",
        seq=len(task.transitions),
        now=now,
        details={"result": result, "notes": notes, "photos": hashes},
    )
    session.flush()
    return task


def close(
    session: Session,
    uid: str,
    *,
    actor: str,
    rating: int | None = None,
    comment: str | None = None,
    role: str = "requester",
    now: datetime | None = None,
) -> Task:
    """The requester confirms and rates (1–5 stars); an admin may close without a rating."""
    if rating is not None and not 1 <= rating <= 5:
        raise InvalidInput("a rating is 1 to 5 stars")
    now = now or utcnow()
    task = get_task(session, uid)
    if role != "requester" and role not in transitions.ADMIN_ROLES:
        raise NotPermitted(uid, actor, "close", "only the requester or an admin closes a task")
    transitions.apply(task, "close", actor=actor, role=role, now=now, reason=comment)
    task.rating = rating
    transitions.flush_or_conflict(session, task, "close")
    return task


def auto_close(session: Session, task: Task, *, now: datetime, after_days: int) -> None:
    transitions.apply(
        task,
        "auto_close",
        actor="system:sla",
        role="system",
        now=now,
        reason=f"no confirmation within {after_days} days of completion",
    )


def reassign(
    session: Session,
    uid: str,
    *,
    to: str,
    actor: str,
    role: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> Task:
    """Hand the task to a named worker (an admin's act); the new worker confirms afresh."""
    if role not in transitions.ADMIN_ROLES:
        raise NotPermitted(uid, actor, "reassign", "only an admin reassigns")
    now = now or utcnow()
    task = get_task(session, uid)
    worker = session.scalars(
        select(GridWorker).where(GridWorker.code == to, GridWorker.active.is_(True))
    ).first()
    if worker is None:
        raise InvalidInput(f"no active worker {to}")
    previous = task.assignee
    transitions.apply(
        task,
        "reassign",
        actor=actor,
        role=role,
        now=now,
        reason=f"from {previous or '(queue)'} to {to}" + (f": {reason}" if reason else ""),
    )
    task.assignee, task.assignee_kind = worker.code, "worker"
    if worker.role == dispatch.WORKER:
        task.grid_code = worker.grid_code
    transitions.flush_or_conflict(session, task, "reassign")
    return task


def escalate(
    session: Session,
    uid: str,
    *,
    actor: str,
    role: str = "system",
    reason: str = "escalated by hand",
    now: datetime | None = None,
) -> Task:
    """One level up: community admin, then district admin; the assignee keeps the task."""
    now = now or utcnow()
    task = get_task(session, uid)
    escalate_task(task, session, actor=actor, role=role, reason=reason, now=now)
    transitions.flush_or_conflict(session, task, "escalate")
    return task


def escalate_task(
    task: Task, session: Session, *, actor: str, role: str, reason: str, now: datetime
) -> str | None:
    level = task.escalation_level + 1
    target = dispatch.escalation_target(session, task.grid_code, level)
    who = f"{target.role} {target.code}" if target else "no admin on record"
    transitions.apply(
        task, "escalate", actor=actor, role=role, now=now, reason=f"{reason}; level {level}: {who}"
    )
    task.escalation_level = level
    return target.code if target else None
