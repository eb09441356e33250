"""The task state machine as a table, and the one place a transition is written down.

Keeping the legal moves in data (not in ``if`` chains spread over the operations) makes
the lifecycle testable row by row and the error message able to say what *is* allowed.
Every change to a task goes through :func:`apply`, so no change escapes the history.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from canonical_model import Task, TaskState, TaskTransition
from workflow.errors import IllegalTransition, TaskConflict

__all__ = [
    "ACTIONS",
    "ADMIN_ROLES",
    "OPEN_STATES",
    "allowed_actions",
    "apply",
    "flush_or_conflict",
    "next_state",
    "record_creation",
]

S = TaskState
_ACTIVE = frozenset({S.PENDING, S.ACCEPTED, S.IN_PROGRESS, S.REJECTED})

#: action → (states it may start from, state it leads to; None = the state does not change)
ACTIONS: dict[str, tuple[frozenset[TaskState], TaskState | None]] = {
    "accept": (frozenset({S.PENDING}), S.ACCEPTED),  # 已接单
    "reject": (frozenset({S.PENDING}), S.REJECTED),  # 已拒绝
    "redispatch": (frozenset({S.REJECTED}), S.PENDING),  # to another worker
    "start": (frozenset({S.ACCEPTED}), S.IN_PROGRESS),
    "complete": (frozenset({S.IN_PROGRESS}), S.COMPLETED),  # 已完成
    "close": (frozenset({S.COMPLETED}), S.CLOSED),  # confirmed and rated
    "auto_close": (frozenset({S.COMPLETED}), S.CLOSED),
    "reassign": (_ACTIVE, S.PENDING),  # the new assignee confirms afresh
    "assign": (frozenset({S.PENDING}), None),  # a queued task finds its worker
    "escalate": (_ACTIVE, None),
}

#: States in which a task still needs someone (counted as a worker's load).
OPEN_STATES = (S.PENDING, S.ACCEPTED, S.IN_PROGRESS)
#: Roles that may act on a task they are not assigned to.
ADMIN_ROLES = frozenset({"community_admin", "district_admin", "system"})


def allowed_actions(state: TaskState) -> tuple[str, ...]:
    return tuple(a for a, (sources, _) in ACTIONS.items() if state in sources)


def next_state(uid: str, state: TaskState, action: str) -> TaskState:
    """Where ``action`` leads from ``state``; IllegalTransition if it may not be taken."""
    if action not in ACTIONS:
        raise IllegalTransition(uid, str(state), action, allowed_actions(state))
    sources, target = ACTIONS[action]
    if state not in sources:
        raise IllegalTransition(uid, str(state), action, allowed_actions(state))
    return state if target is None else target


def apply(
    task: Task,
    action: str,
    *,
    actor: str,
    role: str | None,
    now: datetime,
    reason: str | None = None,
) -> TaskTransition:
    """Move ``task`` by ``action`` and record who did it, as what, when and why."""
    state = TaskState(task.state)
    target = next_state(task.uid, state, action)
    transition = TaskTransition(
        from_state=state,
        to_state=target,
        action=action,
        actor=actor,
        actor_role=role,
        reason=reason,
        at=now,
    )
    task.transitions.append(transition)
    task.state = target
    task.updated_at = now
    if target is S.CLOSED:
        task.closed_at = now
    return transition


def flush_or_conflict(session: Session, task: Task, action: str) -> None:
    """Flush now, so a lost optimistic-lock race is reported as a TaskConflict here."""
    uid = task.uid  # read before the flush: a failed flush expires the object
    try:
        session.flush()
    except StaleDataError:
        raise TaskConflict(uid, action) from None


def record_creation(
    task: Task, *, actor: str, role: str | None, now: datetime, reason: str | None
) -> TaskTransition:
    """The first line of a task's history: who raised it, and by which rule."""
    transition = TaskTransition(
        from_state=None,
        to_state=TaskState(task.state),
        action="create",
        actor=actor,
        actor_role=role,
        reason=reason,
        at=now,
    )
    task.transitions.append(transition)
    return transition
