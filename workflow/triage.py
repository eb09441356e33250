"""From an event to tasks: the rules decide whether and which, dispatch decides who.

This is the synchronous path (event in, task assigned, one transaction), so a device alarm
reaches a worker's inbox in milliseconds, not at the next batch run. A rule that fails is
logged with the event's id and skipped; if failures leave an event with no decision at
all, it becomes a triage task in the community's queue, because an event nobody could
classify is exactly the one a person should look at.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from canonical_model import Event, Severity, Task, TaskState, utcnow
from workflow import dispatch, transitions
from workflow.context import person_context
from workflow.events import DEFAULT_WINDOW, EventIntake, IntakeStatus, raise_event
from workflow.places import Place, locate
from workflow.rule_versions import active_rules
from workflow.rules import RuleFailure, RuleSet, TaskSpec

__all__ = ["Published", "Triage", "event_facts", "publish_event", "triage"]

log = logging.getLogger(__name__)

TRIAGE_SPEC = TaskSpec(
    category="triage",
    title="事件待人工分拣",
    priority="normal",
    sla=timedelta(hours=24),
    assign="grid_worker",
    reply_to=None,
)


@dataclass(frozen=True, slots=True)
class Triage:
    tasks: list[Task] = field(default_factory=list)
    failures: list[RuleFailure] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Published:
    intake: EventIntake
    tasks: list[Task]
    failures: list[RuleFailure] = field(default_factory=list)


_EVENT_TASKS = select(Task).where(Task.event_id == bindparam("event_id"))


def event_facts(session: Session, event: Event, place: Place | None) -> dict[str, Any]:
    """What the rules see: the event, its payload, the person's context, the place."""
    ctx = person_context(session, event.person_id, event.occurred_at.date())
    return {
        "event": {
            "type": event.type,
            "severity": str(event.severity),
            "source": event.source,
            "report_count": event.report_count,
        },
        "payload": event.payload or {},
        "person": ctx.as_facts(),
        "place": {
            "known": place is not None,
            "level": place.level if place else None,
            "code": place.code if place else None,
        },
    }


def _source_deadline(payload: dict[str, Any]) -> datetime | None:
    value = payload.get("deadline")
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _new_task(
    session: Session,
    event: Event,
    spec: TaskSpec,
    place: Place | None,
    *,
    why: str,
    now: datetime,
) -> Task:
    deadline = now + spec.sla
    source_deadline = _source_deadline(event.payload or {})
    if source_deadline is not None:
        deadline = min(deadline, source_deadline)  # the requester's limit is binding too
    task = Task(
        category=spec.category,
        priority=spec.priority,
        state=TaskState.PENDING,
        sla_deadline=deadline,
        event_id=event.id,
        person_id=event.person_id,
        requester_source=event.source if spec.reply_to == "source" else spec.reply_to,
        requester_ref=event.source_ref,
        title=spec.title[:200],
        created_at=now,
        updated_at=now,
        transitions=[],
    )
    result = dispatch.assign(
        session, task, place, spec.assign, service_category=spec.service_category
    )
    transitions.record_creation(
        task,
        actor="system:rules",
        role="system",
        now=now,
        reason=f"{why}; {result.kind} {result.assignee or '(queue)'}: {result.reason}",
    )
    session.add(task)
    return task


def triage(
    session: Session, event: Event, rules: RuleSet, *, now: datetime | None = None
) -> Triage:
    """Raise the tasks the rules ask for, each dispatched; returns them and rule failures."""
    now = now or utcnow()
    place = locate(
        session, grid_code=event.grid_code, address_id=event.address_id, person_id=event.person_id
    )
    evaluation = rules.evaluate(event_facts(session, event, place))
    for failure in evaluation.failures:
        log.warning("rule %s failed on event %s: %s", failure.rule_id, event.uid, failure.error)
    label = f"rules {rules.label} v{rules.version}"
    tasks = [
        _new_task(session, event, d.task, place, why=f"rule {d.rule.id} ({label})", now=now)
        for d in evaluation.decisions
    ]
    if not tasks and evaluation.failures:
        why = f"rules failed ({', '.join(f.rule_id for f in evaluation.failures)}; {label})"
        tasks.append(_new_task(session, event, TRIAGE_SPEC, place, why=why, now=now))
    session.flush()
    return Triage(tasks, list(evaluation.failures))


def publish_event(
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
    rules: RuleSet | None = None,
    window: timedelta = DEFAULT_WINDOW,
    now: datetime | None = None,
) -> Published:
    """Take in an event and, if it is new, triage it: the entry point for producers and
    the device bridge. A repeated or joined report raises no new task."""
    now = now or utcnow()
    intake = raise_event(
        session,
        type=type,
        occurred_at=occurred_at,
        source=source,
        source_ref=source_ref,
        severity=severity,
        person_id=person_id,
        address_id=address_id,
        grid_code=grid_code,
        dedup_key=dedup_key,
        payload=payload,
        window=window,
        now=now,
    )
    if intake.status is not IntakeStatus.NEW:
        existing = session.scalars(_EVENT_TASKS, {"event_id": intake.event.id}).all()
        return Published(intake, list(existing))
    result = triage(session, intake.event, rules or active_rules(session), now=now)
    return Published(intake, result.tasks, result.failures)
