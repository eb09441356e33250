"""Every legal and illegal transition; who may act; races; the history; SLA escalation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import Outbox, Task, TaskAttachment, TaskState
from canonical_model.store import transaction
from tests.workflow.district import BUILDING1, T0, seed
from workflow import (
    IllegalTransition,
    InvalidInput,
    NotAssignee,
    NotPermitted,
    Photo,
    PhotoStore,
    TaskConflict,
    accept,
    close,
    complete,
    default_rules,
    escalate,
    next_state,
    publish_event,
    reassign,
    reject,
    sla_watch,
    start,
)
from workflow.transitions import ACTIONS

S = TaskState
LEGAL = {
    (S.PENDING, "accept"): S.ACCEPTED,
    (S.PENDING, "reject"): S.REJECTED,
    (S.REJECTED, "redispatch"): S.PENDING,
    (S.ACCEPTED, "start"): S.IN_PROGRESS,
    (S.IN_PROGRESS, "complete"): S.COMPLETED,
    (S.COMPLETED, "close"): S.CLOSED,
    (S.COMPLETED, "auto_close"): S.CLOSED,
    (S.PENDING, "assign"): S.PENDING,
    **{(s, "reassign"): S.PENDING for s in (S.PENDING, S.ACCEPTED, S.IN_PROGRESS, S.REJECTED)},
    **{(s, "escalate"): s for s in (S.PENDING, S.ACCEPTED, S.IN_PROGRESS, S.REJECTED)},
}
ALL = [(state, action) for state in S for action in ACTIONS]


@pytest.mark.parametrize(("state", "action"), ALL, ids=[f"{s.value}-{a}" for s, a in ALL])
def test_the_state_machine_table(state: TaskState, action: str) -> None:
    if (state, action) in LEGAL:
        assert next_state("T", state, action) is LEGAL[(state, action)]
    else:
        with pytest.raises(IllegalTransition) as info:
            next_state("T", state, action)
        assert f"cannot {action} a task that is {state.value}" in str(info.value)


def _task(sessions: sessionmaker[Session], ref: str = "a1") -> Task:
    with transaction(sessions) as s:
        published = publish_event(
            s,
            type="device.smoke",
            severity="emergency",
            occurred_at=T0,
            source="device_gateway",
            source_ref=ref,
            grid_code=BUILDING1,
            rules=default_rules(),
            now=T0,
        )
        return published.tasks[0]


def test_the_whole_loop_is_recorded_with_actor_role_and_time(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    seed(sessions)
    task = _task(sessions)
    uid, worker = task.uid, task.assignee
    assert worker is not None
    store = PhotoStore(tmp_path / "attachments")
    photo = b"\x89PNG fake photo bytes"
    with transaction(sessions) as s:
        accept(s, uid, actor=worker, now=T0 + timedelta(minutes=5))
        start(s, uid, actor=worker, now=T0 + timedelta(minutes=20))
        complete(
            s,
            uid,
            actor=worker,
            result="resolved",
            notes="烟感误报，已复位",
            photos=[Photo(photo, "image/png"), Photo(photo, "image/png")],
            location=(30.27, 120.15),
            store=store,
            now=T0 + timedelta(minutes=50),
        )
    with transaction(sessions) as s, pytest.raises(NotPermitted):
        close(s, uid, actor=worker, role="grid_worker", rating=5)
    with transaction(sessions) as s:
        close(s, uid, actor="resident", rating=4, comment="及时", now=T0 + timedelta(hours=2))
    with sessions() as s:
        task = s.scalars(select(Task).where(Task.uid == uid)).one()
        history = [
            (t.action, t.from_state, t.to_state, t.actor, t.actor_role, t.at)
            for t in task.transitions
        ]
        assert history == [
            ("create", None, S.PENDING, "system:rules", "system", T0),
            ("accept", S.PENDING, S.ACCEPTED, worker, "grid_worker", T0 + timedelta(minutes=5)),
            ("start", S.ACCEPTED, S.IN_PROGRESS, worker, "grid_worker", T0 + timedelta(minutes=20)),
            (
                "complete",
                S.IN_PROGRESS,
                S.COMPLETED,
                worker,
                "grid_worker",
                T0 + timedelta(minutes=50),
            ),
            ("close", S.COMPLETED, S.CLOSED, "resident", "requester", T0 + timedelta(hours=2)),
        ]
        assert (task.state, task.rating, task.closed_at) == (S.CLOSED, 4, T0 + timedelta(hours=2))
        feedback = task.feedback[0]
        assert (feedback.result, feedback.latitude) == ("resolved", 30.27)
        attachment = s.scalars(select(TaskAttachment)).one()  # the same photo twice is one
        assert store.get(attachment.sha256) == photo
        assert store.path_for(attachment.sha256).parent.parent.parent == tmp_path / "attachments"
        ops = s.execute(select(Outbox.destination, Outbox.operation).order_by(Outbox.id)).all()
        assert ops == [("device_gateway", "status_update"), ("device_gateway", "completion")]
        payload = s.scalars(select(Outbox.payload).where(Outbox.operation == "completion")).one()
        assert payload["photos"] == [attachment.sha256]
        assert payload["request_ref"] == "a1"


def test_illegal_and_unauthorised_acts_are_refused_clearly(
    sessions: sessionmaker[Session],
) -> None:
    seed(sessions)
    task = _task(sessions)
    uid, worker = task.uid, task.assignee
    other = "W2" if worker == "W1" else "W1"
    with transaction(sessions) as s, pytest.raises(IllegalTransition) as info:
        complete(s, uid, actor=worker or "", result="resolved")
    assert "allowed actions are: accept, reject, reassign, assign, escalate" in str(info.value)
    with transaction(sessions) as s, pytest.raises(NotAssignee):
        accept(s, uid, actor=other)
    with transaction(sessions) as s, pytest.raises(InvalidInput):
        reject(s, uid, actor=worker or "", reason="  ")
    with transaction(sessions) as s:
        accept(s, uid, actor="CA1", role="community_admin")  # an admin may act for anyone
    with transaction(sessions) as s, pytest.raises(InvalidInput):
        close(s, uid, actor="resident", rating=6)
    with sessions() as s:
        assert s.scalars(select(Task.state).where(Task.uid == uid)).one() == S.ACCEPTED


def test_two_workers_accepting_one_task_one_wins(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    uid = _task(sessions).uid
    first, second = sessions(), sessions()
    try:
        first.begin()
        second.begin()
        mine = first.scalars(select(Task).where(Task.uid == uid)).one()
        theirs = second.scalars(select(Task).where(Task.uid == uid)).one()
        assert mine.version == theirs.version
        accept(first, uid, actor="CA1", role="community_admin", now=T0)
        first.commit()
        with pytest.raises(TaskConflict) as info:
            accept(second, uid, actor="DA1", role="district_admin", now=T0)
        assert "changed by someone else" in str(info.value)
        second.rollback()
    finally:
        first.close()
        second.close()
    with sessions() as s:
        task = s.scalars(select(Task).where(Task.uid == uid)).one()
        assert [t.actor for t in task.transitions if t.action == "accept"] == ["CA1"]
        assert s.scalar(select(func.count()).select_from(Outbox)) == 1


def test_the_outbox_row_rolls_back_with_the_task_change(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    task = _task(sessions)

    class Boom(Exception):
        pass

    def accept_then_fail() -> None:
        with transaction(sessions) as s:
            accept(s, task.uid, actor=task.assignee or "")
            assert s.scalar(select(func.count()).select_from(Outbox)) == 1  # written together…
            raise Boom

    with pytest.raises(Boom):
        accept_then_fail()
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Outbox)) == 0  # …and gone together
        assert s.scalars(select(Task.state)).one() == S.PENDING


def test_rejection_goes_to_another_worker_then_the_community_queue(
    sessions: sessionmaker[Session],
) -> None:
    seed(sessions)
    task = _task(sessions)
    first = task.assignee
    with transaction(sessions) as s:
        after = reject(s, task.uid, actor=first or "", reason="不在辖区", now=T0)
        second = after.assignee
    assert {first, second} == {"W1", "W2"}
    with transaction(sessions) as s:
        after = reject(s, task.uid, actor=second or "", reason="正在处理其他紧急工单", now=T0)
        assert (after.state, after.assignee, after.assignee_kind) == (S.PENDING, None, "community")
        actions = [(t.action, t.actor) for t in after.transitions]
    assert actions == [
        ("create", "system:rules"),
        ("reject", first),
        ("redispatch", "system"),
        ("reject", second),
        ("redispatch", "system"),
    ]
    with transaction(sessions) as s:
        moved = reassign(s, task.uid, to="W3", actor="CA1", role="community_admin", now=T0)
        assert (moved.assignee, moved.state) == ("W3", S.PENDING)
        with pytest.raises(NotPermitted):
            reassign(s, task.uid, to="W1", actor="W3", role="grid_worker")


def test_sla_breach_escalates_to_community_then_district_admin_and_auto_closes(
    sessions: sessionmaker[Session],
) -> None:
    seed(sessions)
    task = _task(sessions)  # device emergency: 2 h
    with transaction(sessions) as s:
        assert sla_watch(s, now=T0 + timedelta(hours=1)).escalated == 0
        assert sla_watch(s, now=T0 + timedelta(hours=3)).escalated == 1
        assert sla_watch(s, now=T0 + timedelta(hours=3, minutes=10)).escalated == 0  # once
        assert sla_watch(s, now=T0 + timedelta(hours=5)).escalated == 1
    with transaction(sessions) as s:
        t = s.scalars(select(Task).where(Task.uid == task.uid)).one()
        assert t.escalation_level == 2
        assert t.assignee == task.assignee
        reasons = [x.reason or "" for x in t.transitions if x.action == "escalate"]
        assert "level 1: community_admin CA1" in reasons[0]
        assert "level 2: district_admin DA1" in reasons[1]
        escalate(s, task.uid, actor="DA1", role="district_admin")
        accept(s, task.uid, actor=task.assignee or "", now=T0 + timedelta(hours=6))
        start(s, task.uid, actor=task.assignee or "", now=T0 + timedelta(hours=6))
        complete(
            s, task.uid, actor=task.assignee or "", result="resolved", now=T0 + timedelta(hours=7)
        )
    with transaction(sessions) as s:
        assert sla_watch(s, now=T0 + timedelta(days=3)).auto_closed == 0
        assert sla_watch(s, now=T0 + timedelta(days=8)).auto_closed == 1
    with sessions() as s:
        t = s.scalars(select(Task).where(Task.uid == task.uid)).one()
        assert (t.state, t.rating, t.transitions[-1].action) == (S.CLOSED, None, "auto_close")
