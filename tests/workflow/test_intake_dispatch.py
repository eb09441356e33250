"""Event intake joins reports of one incident; dispatch finds the right worker or queue."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import Event, EventReport, Task, TaskState
from canonical_model.roster import GridWorker
from canonical_model.store import transaction
from tests.workflow.district import (
    BUILDING1,
    BUILDING2,
    DISTRICT,
    GRID1,
    GRID2,
    OTHER_COMMUNITY,
    T0,
    seed,
)
from workflow import (
    IntakeStatus,
    accept,
    complete,
    default_rules,
    dispatch_waiting,
    publish_event,
    start,
)
from workflow.triage import Published


def _call(s: Session, ref: str, minutes: int, where: str | None = BUILDING1) -> Published:
    return publish_event(
        s,
        type="hotline.work_order",
        occurred_at=T0 + timedelta(minutes=minutes),
        source="hotline",
        source_ref=ref,
        grid_code=where,
        dedup_key=f"hotline:漏水@{where}",
        payload={"category": "漏水", "order_no": ref},
        rules=default_rules(),
        now=T0 + timedelta(minutes=minutes),
    )


def test_five_calls_about_one_burst_pipe_are_one_event_and_one_task(
    sessions: sessionmaker[Session],
) -> None:
    seed(sessions)
    statuses = []
    with transaction(sessions) as s:
        for k in range(5):
            statuses.append(_call(s, f"GD{k}", minutes=7 * k).intake.status)
        again = _call(s, "GD3", minutes=40)  # the hotline re-sends an order it already sent
    assert statuses == [IntakeStatus.NEW] + [IntakeStatus.JOINED] * 4
    assert again.intake.status is IntakeStatus.DUPLICATE
    with sessions() as s:
        event = s.scalars(select(Event)).one()
        assert event.report_count == 5
        assert s.scalar(select(func.count()).select_from(EventReport)) == 5
        task = s.scalars(select(Task)).one()
        assert task.event_id == event.id
        assert task.category == "utilities"
        assert task.priority == "high"
        assert task.sla_deadline == T0 + timedelta(hours=24)
        assert task.assignee in {"W1", "W2"}
        assert task.grid_code == GRID1
        assert task.requester_source == "hotline"


def test_reports_outside_the_window_or_after_completion_are_new_events(
    sessions: sessionmaker[Session],
) -> None:
    seed(sessions)
    with transaction(sessions) as s:
        _call(s, "GD1", minutes=0)
        late = _call(s, "GD2", minutes=13 * 60)  # beyond the 12 h window
    assert late.intake.status is IntakeStatus.NEW
    with transaction(sessions) as s:
        task = s.scalars(select(Task).order_by(Task.id)).first()
        assert task is not None
        assert task.assignee is not None
        accept(s, task.uid, actor=task.assignee, now=T0)
        start(s, task.uid, actor=task.assignee, now=T0)
        complete(s, task.uid, actor=task.assignee, result="resolved", now=T0)
    with transaction(sessions) as s:
        again = _call(s, "GD3", minutes=30)  # in the window, but the first job is done
    assert again.intake.status is IntakeStatus.NEW
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 3


def test_dispatch_balances_load_over_on_duty_workers_of_the_grid(
    sessions: sessionmaker[Session],
) -> None:
    seed(sessions)
    with transaction(sessions) as s:
        for k in range(6):
            _call(s, f"GD{k}", minutes=k, where=None if k else BUILDING1)
    with transaction(sessions) as s:
        for k in range(6):
            publish_event(
                s,
                type="device.smoke",
                severity="emergency",
                occurred_at=T0,
                source="device_gateway",
                source_ref=f"alarm-{k}",
                grid_code=BUILDING1,
                rules=default_rules(),
                now=T0,
            )
    with sessions() as s:
        rows = s.execute(
            select(Task.assignee, func.count())
            .where(Task.category == "device_alarm")
            .group_by(Task.assignee)
        ).all()
    assert dict(rows) == {"W1": 3, "W2": 3}  # W3 is off duty; the load alternates


def test_no_worker_on_duty_or_unknown_place_goes_to_a_queue_never_nowhere(
    sessions: sessionmaker[Session],
) -> None:
    seed(sessions)
    with transaction(sessions) as s:
        in_grid2 = _call(s, "G2", 0, where=BUILDING2)
        community_only = _call(s, "C2", 0, where=OTHER_COMMUNITY)
        nowhere = _call(s, "X", 0, where=None)
    with sessions() as s:
        by_ref = {t.requester_ref: t for t in s.scalars(select(Task))}
    assert (by_ref["G2"].assignee, by_ref["G2"].assignee_kind) == (None, "community")
    assert by_ref["G2"].grid_code == GRID2
    assert (by_ref["C2"].assignee_kind, by_ref["C2"].grid_code) == ("community", OTHER_COMMUNITY)
    assert (by_ref["X"].assignee_kind, by_ref["X"].grid_code) == ("district", DISTRICT)
    assert all(t.state == TaskState.PENDING for t in by_ref.values())
    del in_grid2, community_only, nowhere
    with transaction(sessions) as s:
        w4 = s.scalars(select(GridWorker).where(GridWorker.code == "W4")).one()
        w4.on_duty = True
        assert dispatch_waiting(s, now=T0 + timedelta(hours=1)) == 1
    with sessions() as s:
        task = s.scalars(select(Task).where(Task.requester_ref == "G2")).one()
        assert (task.assignee, task.assignee_kind) == ("W4", "worker")
        assert [t.action for t in task.transitions] == ["create", "assign"]
