"""Closing the loop: write-backs to the systems requests came from, never lost.

The outbox row is written in the same transaction as the task change that causes it, so a
reply is never sent for a change that rolled back and never forgotten for one that
committed. The relay delivers due messages through handlers the composition root
registers (``workflow`` does not import adapters), with exponential backoff, a retry
budget after which a message is ``dead`` (visible on the task), and an idempotency key so
a receiver can drop the copy a crash between "sent" and "recorded" may cause. A message
for a request waits for the earlier messages about that request, so "completed"
never overtakes "accepted". A missing handler is a configuration gap, not a failure of the
message: it stays pending, with the reason, and costs no attempt.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import EventReport, Outbox, OutboxState, Task, utcnow
from canonical_model.store import transaction

__all__ = [
    "Delivery",
    "Handler",
    "Relay",
    "RelayReport",
    "delivery_status",
    "enqueue_for_task",
]

log = logging.getLogger(__name__)

#: ``deliver(payload, idempotency_key)``; raising means "not delivered, try again later".
Handler = Callable[[dict[str, Any], str], object]


def _targets(session: Session, task: Task) -> list[str | None]:
    """Every request this task answers: each report from the requester's system."""
    refs: list[str | None] = []
    if task.event_id is not None:
        refs = list(
            session.scalars(
                select(EventReport.source_ref)
                .where(
                    EventReport.event_id == task.event_id,
                    EventReport.source == task.requester_source,
                )
                .order_by(EventReport.id)
            )
        )
    if not refs:
        refs = [task.requester_ref]
    return list(dict.fromkeys(refs))


def enqueue_for_task(
    session: Session,
    task: Task,
    operation: str,
    *,
    seq: int,
    now: datetime,
    details: Mapping[str, Any] | None = None,
) -> list[Outbox]:
    """Queue ``operation`` for the task's requester; nothing when it has none.

    ``seq`` (the transition's ordinal) makes the key unique per change and stable per
    retry of the same change.
    """
    if not task.requester_source:
        return []
    rows = []
    for ref in _targets(session, task):
        ref_tag = hashlib.sha256((ref or "").encode()).hexdigest()[:12]
        payload: dict[str, Any] = {
            "task": task.uid,
            "request_ref": ref,
            "operation": operation,
            "state": str(task.state),
            "category": task.category,
            "at": now.isoformat(),
            "handled_by": task.assignee,
            **(details or {}),
        }
        row = Outbox(
            destination=task.requester_source,
            operation=operation,
            idempotency_key=f"{task.uid}:{seq}:{operation}:{ref_tag}",
            payload=payload,
            task_id=task.id,
            state=OutboxState.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(row)
        rows.append(row)
    return rows


@dataclass(frozen=True, slots=True)
class Delivery:
    destination: str
    operation: str
    state: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    delivered_at: datetime | None


def delivery_status(session: Session, task_id: int) -> list[Delivery]:
    """How the task's write-backs stand, oldest first: for the task view and the CLI."""
    rows = session.scalars(select(Outbox).where(Outbox.task_id == task_id).order_by(Outbox.id))
    return [
        Delivery(
            r.destination,
            r.operation,
            str(r.state),
            r.attempts,
            r.last_error,
            r.next_attempt_at,
            r.delivered_at,
        )
        for r in rows
    ]


def _stream(row: Any) -> tuple[Any, ...]:
    """Messages about one request of one task, to one destination: delivered in order."""
    return (row.task_id, row.destination, row.idempotency_key.rsplit(":", 1)[-1])


@dataclass(slots=True)
class RelayReport:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    no_handler: int = 0
    deferred: int = 0  # waiting behind an earlier message or a destination that just failed

    def as_dict(self) -> dict[str, int]:
        return {
            "delivered": self.delivered,
            "retried": self.retried,
            "dead": self.dead,
            "no_handler": self.no_handler,
            "deferred": self.deferred,
        }


class Relay:
    """Delivers due outbox messages; run it on a schedule (``feedback_delivery`` DAG)."""

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        *,
        max_attempts: int = 8,
        base_delay: timedelta = timedelta(seconds=30),
        max_delay: timedelta = timedelta(hours=6),
        batch: int = 200,
    ) -> None:
        self.handlers = handlers
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.batch = batch

    def backoff(self, attempts: int) -> timedelta:
        """Delay after the ``attempts``-th failure: base, 2×base, 4×base … capped."""
        delay: timedelta = self.base_delay * (2 ** max(0, attempts - 1))
        return min(self.max_delay, delay)

    def _handler(self, destination: str) -> Handler | None:
        try:
            return self.handlers[destination]
        except KeyError:
            return None

    def run_once(self, sessions: sessionmaker[Session], now: datetime | None = None) -> RelayReport:
        now = now or utcnow()
        report = RelayReport()
        with sessions() as s:
            due = s.execute(
                select(Outbox.id, Outbox.task_id, Outbox.destination, Outbox.idempotency_key)
                .where(Outbox.state == OutboxState.PENDING, Outbox.next_attempt_at <= now)
                .order_by(Outbox.id)
                .limit(self.batch)
            ).all()
            task_ids = {row.task_id for row in due if row.task_id is not None}
            queues: dict[tuple[Any, ...], list[int]] = {}
            for row in s.execute(
                select(Outbox.id, Outbox.task_id, Outbox.destination, Outbox.idempotency_key)
                .where(Outbox.state == OutboxState.PENDING, Outbox.task_id.in_(task_ids))
                .order_by(Outbox.id)
            ):
                queues.setdefault(_stream(row), []).append(row.id)
        failed: set[str] = set()
        delivered: set[int] = set()
        for row in due:
            earlier = [i for i in queues.get(_stream(row), []) if i < row.id]
            if row.destination in failed or any(i not in delivered for i in earlier):
                report.deferred += 1
                continue
            outcome = self._deliver_one(sessions, row.id, now)
            if outcome in ("retried", "dead"):
                failed.add(row.destination)
            elif outcome == "delivered":
                delivered.add(row.id)
            setattr(report, outcome, getattr(report, outcome) + 1)
        return report

    def _deliver_one(self, sessions: sessionmaker[Session], outbox_id: int, now: datetime) -> str:
        with transaction(sessions) as s:
            msg = s.scalars(
                select(Outbox).where(Outbox.id == outbox_id).with_for_update(skip_locked=True)
            ).first()
            if msg is None or msg.state != OutboxState.PENDING or msg.next_attempt_at > now:
                return "deferred"  # another relay took it, or it was rescheduled meanwhile
            handler = self._handler(msg.destination)
            if handler is None:
                msg.last_error = f"no handler for destination {msg.destination!r}"
                msg.next_attempt_at = now + self.base_delay
                return "no_handler"
            try:
                handler(dict(msg.payload), msg.idempotency_key)
            except Exception as exc:
                msg.attempts += 1
                msg.last_error = f"{type(exc).__name__}: {str(exc)[:500]}"
                if msg.attempts >= self.max_attempts:
                    msg.state = OutboxState.DEAD
                    log.error(
                        "outbox %s to %s dead after %d attempts",
                        msg.id,
                        msg.destination,
                        msg.attempts,
                    )
                    return "dead"
                msg.next_attempt_at = now + self.backoff(msg.attempts)
                return "retried"
            msg.attempts += 1
            msg.state = OutboxState.DELIVERED
            msg.delivered_at = now
            msg.last_error = None
            return "delivered"
