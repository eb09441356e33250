"""Tasks for the serving layers: the inbox, one task, and moving it through its lifecycle.

The lifecycle itself is ``workflow.lifecycle``; this module decides who may ask for which
act (a worker works tasks, an admin also reassigns and closes, a platform closes the tasks it
requested), maps the caller's role onto workflow's, and logs each act and each read.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from api import cursor as cursors
from api.config import DEFAULT_TASK_PAGE, MAX_TASK_PAGE
from api.errors import Conflict, Forbidden, InvalidRequest, NotFound
from api.events import source_name
from api.person_record import check_uid
from api.policy import Access, Policy
from api.views import TaskPage, TaskTransitionView, TaskView, plain
from canonical_model import Event, Person, Task, TaskFeedback, TaskState
from identity import Permission
from identity.roles import Role
from workflow import lifecycle
from workflow.attachments import Photo, PhotoStore
from workflow.transitions import OPEN_STATES, allowed_actions

_PAGE = "tasks"


class TaskAction(enum.StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    START = "start"
    COMPLETE = "complete"
    CLOSE = "close"
    ESCALATE = "escalate"
    REASSIGN = "reassign"


class TaskListView(enum.StrEnum):
    INBOX = "inbox"
    GRIDS = "grids"
    REQUESTED = "requested"


A = TaskAction
ROLE_ACTIONS: dict[Role, frozenset[TaskAction]] = {
    Role.GRID_WORKER: frozenset({A.ACCEPT, A.REJECT, A.START, A.COMPLETE, A.ESCALATE}),
    Role.COMMUNITY_ADMIN: frozenset(TaskAction),
    Role.PLATFORM: frozenset({A.CLOSE}),
}
"""Who may ask for which act; workflow then checks the state and the assignee."""
WORKFLOW_ROLE = {
    Role.GRID_WORKER: "grid_worker",
    Role.COMMUNITY_ADMIN: "community_admin",
    Role.PLATFORM: "requester",
}


@dataclass(frozen=True, slots=True)
class Transition:
    action: TaskAction
    reason: str | None = None
    rating: int | None = None
    reassign_to: str | None = None
    result: str | None = None
    notes: str | None = None
    location: tuple[float, float] | None = None
    photos: Sequence[Photo] = ()
    expected_version: int | None = None


def _load(session: Session, uid: str) -> Task | None:
    return session.scalars(
        select(Task)
        .where(Task.uid == check_uid(uid))
        .options(
            selectinload(Task.transitions),
            selectinload(Task.feedback).selectinload(TaskFeedback.attachments),
        )
    ).first()


def _uids(
    session: Session, model: type[Person] | type[Event], ids: Iterable[int | None]
) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    return dict(session.execute(select(model.id, model.uid).where(model.id.in_(wanted))).all())


def views(session: Session, tasks: Sequence[Task]) -> list[TaskView]:
    persons = _uids(session, Person, (t.person_id for t in tasks))
    events = _uids(session, Event, (t.event_id for t in tasks))
    return [_view(t, persons, events) for t in tasks]


def _view(task: Task, persons: dict[int, str], events: dict[int, str]) -> TaskView:
    return TaskView(
        uid=task.uid,
        category=task.category,
        title=task.title,
        priority=task.priority,
        state=plain(task.state),
        sla_deadline=task.sla_deadline,
        grid_code=task.grid_code,
        assignee=task.assignee,
        assignee_kind=task.assignee_kind,
        person_uid=persons.get(task.person_id) if task.person_id else None,
        event_uid=events.get(task.event_id) if task.event_id else None,
        requester_source=task.requester_source,
        requester_ref=task.requester_ref,
        rating=task.rating,
        escalation_level=task.escalation_level,
        version=task.version,
        created_at=task.created_at,
        updated_at=task.updated_at,
        closed_at=task.closed_at,
        allowed_actions=list(allowed_actions(TaskState(task.state))),
        history=[
            TaskTransitionView(
                from_state=plain(t.from_state) if t.from_state is not None else None,
                to_state=plain(t.to_state),
                action=t.action,
                actor=t.actor,
                actor_role=t.actor_role,
                reason=t.reason,
                at=t.at,
            )
            for t in task.transitions
        ],
        photos=[a.sha256 for f in task.feedback for a in f.attachments],
    )


def log_tasks(
    session: Session, policy: Policy, access: Access, items: Sequence[TaskView], operation: str
) -> None:
    policy.record_read(
        session,
        access,
        operation=operation,
        persons=[t.person_uid for t in items if t.person_uid],
        refs={"tasks": [t.uid for t in items]},
        count=len(items),
    )


def get_task(session: Session, policy: Policy, access: Access, uid: str) -> TaskView:
    task = _load(session, uid)
    if task is None:
        raise NotFound("no such task")
    refs = {"tasks": [uid]}
    policy.ensure_visible(session, access, task.grid_code, operation="task.get", refs=refs)
    view = views(session, [task])[0]
    log_tasks(session, policy, access, [view], "task.get")
    return view


def list_tasks(
    session: Session,
    policy: Policy,
    access: Access,
    *,
    view: TaskListView = TaskListView.INBOX,
    states: Sequence[TaskState] = (),
    limit: int = DEFAULT_TASK_PAGE,
    cursor: str | None = None,
) -> TaskPage:
    """Soonest deadline is not a stable key, so pages go by uid (creation order)."""
    if not 1 <= limit <= MAX_TASK_PAGE:
        raise InvalidRequest(f"limit must be 1 to {MAX_TASK_PAGE}", code="invalid_limit")
    principal = access.principal
    stmt = (
        select(Task)
        .where(
            policy.scope(principal, Task.grid_code),
            Task.state.in_(list(states or OPEN_STATES)),
        )
        .options(
            selectinload(Task.transitions),
            selectinload(Task.feedback).selectinload(TaskFeedback.attachments),
        )
        .order_by(Task.uid)
        .limit(limit + 1)
    )
    if view is TaskListView.INBOX:
        stmt = stmt.where(Task.assignee == principal.subject)
    elif view is TaskListView.REQUESTED:
        stmt = stmt.where(Task.requester_source == source_name(access))
    if cursor:
        stmt = stmt.where(Task.uid > cursors.decode_str(cursor, _PAGE, "after", 26))
    tasks = list(session.scalars(stmt))
    more = len(tasks) > limit
    shown = [t for t in tasks[:limit] if policy.visible(principal, t.grid_code)]
    items = views(session, shown)
    log_tasks(session, policy, access, items, "task.list")
    return TaskPage(
        items=items,
        next_cursor=cursors.encode(_PAGE, after=tasks[limit - 1].uid) if more else None,
    )


def transition(
    session: Session,
    policy: Policy,
    access: Access,
    uid: str,
    change: Transition,
    *,
    photos: PhotoStore | None = None,
) -> TaskView:
    """Apply one act through ``workflow.lifecycle``; refusals are logged by the policy."""
    operation = f"task.{change.action.value}"
    principal = access.principal
    policy.require(session, access, Permission.TRANSITION_TASK, operation)
    task = _load(session, uid)
    if task is None:
        raise NotFound("no such task")
    refs = {"tasks": [uid]}
    policy.ensure_visible(session, access, task.grid_code, operation=operation, refs=refs)
    if change.action not in ROLE_ACTIONS.get(principal.role, frozenset()):
        policy.deny(
            session,
            access,
            operation,
            Forbidden(f"a {principal.role.value} may not {change.action.value} tasks"),
            refs,
        )
    if principal.role is Role.PLATFORM and task.requester_source != source_name(access):
        policy.deny(
            session,
            access,
            operation,
            Forbidden("only the requesting platform closes a task"),
            refs,
        )
    if change.expected_version is not None and change.expected_version != task.version:
        raise Conflict()
    _apply(
        session,
        task.uid,
        change,
        actor=principal.subject[:80],
        role=WORKFLOW_ROLE[principal.role],
        photos=photos,
    )
    view = views(session, [task])[0]
    persons = [view.person_uid] if view.person_uid else []
    policy.record_change(session, access, operation=operation, refs={**refs, "persons": persons})
    return view


def _apply(
    session: Session,
    uid: str,
    change: Transition,
    *,
    actor: str,
    role: str,
    photos: PhotoStore | None,
) -> None:
    a = change.action
    if a is A.ACCEPT:
        lifecycle.accept(session, uid, actor=actor, role=role)
    elif a is A.REJECT:
        lifecycle.reject(session, uid, actor=actor, role=role, reason=_required(change.reason))
    elif a is A.START:
        lifecycle.start(session, uid, actor=actor, role=role)
    elif a is A.COMPLETE:
        lifecycle.complete(
            session,
            uid,
            actor=actor,
            role=role,
            result=_required(change.result, "result"),
            notes=change.notes,
            photos=change.photos,
            location=change.location,
            store=photos,
        )
    elif a is A.CLOSE:
        lifecycle.close(
            session, uid, actor=actor, role=role, rating=change.rating, comment=change.reason
        )
    elif a is A.ESCALATE:
        lifecycle.escalate(session, uid, actor=actor, role=role, reason=_required(change.reason))
    else:
        to = _required(change.reassign_to, "reassign_to")
        lifecycle.reassign(session, uid, to=to, actor=actor, role=role, reason=change.reason)


def _required(value: str | None, name: str = "reason") -> str:
    if value is None or not value.strip():
        raise InvalidRequest(f"{name} is required for this action")
    if len(value) > 2000:
        raise InvalidRequest(f"{name} is longer than 2000 characters")
    return value.strip()


__all__ = [
    "ROLE_ACTIONS",
    "TaskAction",
    "TaskListView",
    "Transition",
    "get_task",
    "list_tasks",
    "log_tasks",
    "transition",
    "views",
]
