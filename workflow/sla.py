"""Time limits: escalate breaches up the hierarchy, auto-close unconfirmed completions.

Escalation does not take the task from its worker (they are still the one at the door);
it puts it in front of the community admin once the limit passes, and of the district
admin when it is overdue by a whole further limit. Each level is taken once, so a run
every few minutes does not pile up transitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from canonical_model import Task, TaskState
from workflow import lifecycle, transitions

__all__ = ["SlaReport", "sla_watch"]

_ESCALATABLE = (*transitions.OPEN_STATES, TaskState.REJECTED)


@dataclass(slots=True)
class SlaReport:
    escalated: int = 0
    auto_closed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"escalated": self.escalated, "auto_closed": self.auto_closed}


def _due_level(task: Task, now: datetime) -> int:
    assert task.sla_deadline is not None
    if now <= task.sla_deadline:
        return 0
    span = max(task.sla_deadline - task.created_at, timedelta(hours=1))
    return 2 if now > task.sla_deadline + span else 1


def sla_watch(
    session: Session, *, now: datetime, auto_close_after_days: int = 7, limit: int = 5000
) -> SlaReport:
    report = SlaReport()
    overdue = session.scalars(
        select(Task)
        .where(
            Task.state.in_(_ESCALATABLE),
            Task.sla_deadline.is_not(None),
            Task.sla_deadline < now,
            Task.escalation_level < 2,
        )
        .order_by(Task.sla_deadline)
        .limit(limit)
    ).all()
    for task in overdue:
        level = _due_level(task, now)
        while task.escalation_level < level:
            lifecycle.escalate_task(
                task,
                session,
                actor="system:sla",
                role="system",
                reason=f"SLA {task.sla_deadline.isoformat() if task.sla_deadline else ''} breached",
                now=now,
            )
            report.escalated += 1
    stale = session.scalars(
        select(Task)
        .where(
            Task.state == TaskState.COMPLETED,
            Task.updated_at <= now - timedelta(days=auto_close_after_days),
        )
        .limit(limit)
    ).all()
    for task in stale:
        lifecycle.auto_close(session, task, now=now, after_days=auto_close_after_days)
        report.auto_closed += 1
    session.flush()
    return report
