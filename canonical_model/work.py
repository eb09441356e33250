"""Events that happen in the district and the tasks (工单) they become.

Several reports of one incident join one ``Event`` through ``EventReport`` (keyed by a
de-duplication key), so five calls about one burst pipe raise one task. A task's ``version``
is an optimistic lock: two workers cannot both accept it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from canonical_model.base import Base, IdType, new_uid, utcnow
from canonical_model.enums import Severity, TaskState, str_enum


class Event(Base):
    __tablename__ = "event"
    __table_args__ = (Index("ix_event_dedup", "dedup_key", "occurred_at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    uid: Mapped[str] = mapped_column(String(26), unique=True, default=new_uid)
    type: Mapped[str] = mapped_column(String(60))  # hotline.complaint, device.fall, …
    severity: Mapped[Severity] = mapped_column(str_enum(Severity), default=Severity.MEDIUM)
    occurred_at: Mapped[datetime]
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    address_id: Mapped[int | None] = mapped_column(ForeignKey("address.id", ondelete="SET NULL"))
    grid_code: Mapped[str | None] = mapped_column(
        ForeignKey("grid_unit.code", ondelete="SET NULL"), index=True
    )
    source: Mapped[str] = mapped_column(String(40))
    source_ref: Mapped[str | None] = mapped_column(String(200))
    dedup_key: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    report_count: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    reports: Mapped[list[EventReport]] = relationship(
        back_populates="event", cascade="all, delete-orphan"
    )


class EventReport(Base):
    """One report (a call, an alarm) of an event; the first report created the event."""

    __tablename__ = "event_report"
    __table_args__ = (UniqueConstraint("source", "source_ref"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(40))
    source_ref: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)

    event: Mapped[Event] = relationship(back_populates="reports")


class Task(Base):
    __tablename__ = "task"
    __table_args__ = (
        Index("ix_task_inbox", "assignee", "state"),
        Index("ix_task_grid_state", "grid_code", "state"),
        Index("ix_task_sla", "state", "sla_deadline"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    uid: Mapped[str] = mapped_column(String(26), unique=True, default=new_uid)
    category: Mapped[str] = mapped_column(String(60))
    priority: Mapped[str] = mapped_column(String(20), default="normal")
    state: Mapped[TaskState] = mapped_column(str_enum(TaskState), default=TaskState.PENDING)
    sla_deadline: Mapped[datetime | None]
    grid_code: Mapped[str | None] = mapped_column(ForeignKey("grid_unit.code", ondelete="SET NULL"))
    assignee: Mapped[str | None] = mapped_column(String(80))
    assignee_kind: Mapped[str] = mapped_column(String(20), default="worker")  # worker, org, …
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("event.id", ondelete="SET NULL"), index=True
    )
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    requester_source: Mapped[str | None] = mapped_column(String(40))  # where the loop closes
    requester_ref: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200), default="")
    rating: Mapped[int | None]
    escalation_level: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    transitions: Mapped[list[TaskTransition]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="TaskTransition.id"
    )
    feedback: Mapped[list[TaskFeedback]] = relationship(
        back_populates="task", cascade="all, delete-orphan"
    )


class TaskTransition(Base):
    """Every state change, reassignment and escalation, with who did it and when."""

    __tablename__ = "task_transition"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), index=True)
    from_state: Mapped[TaskState | None] = mapped_column(str_enum(TaskState))
    to_state: Mapped[TaskState] = mapped_column(str_enum(TaskState))
    action: Mapped[str] = mapped_column(String(30))  # accept, reject, reassign, escalate, …
    actor: Mapped[str] = mapped_column(String(80))
    actor_role: Mapped[str | None] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    task: Mapped[Task] = relationship(back_populates="transitions")


class TaskFeedback(Base):
    __tablename__ = "task_feedback"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), index=True)
    result: Mapped[str] = mapped_column(String(30))  # resolved, unresolved, referred, …
    notes: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    task: Mapped[Task] = relationship(back_populates="feedback")
    attachments: Mapped[list[TaskAttachment]] = relationship(
        back_populates="feedback", cascade="all, delete-orphan"
    )


class TaskAttachment(Base):
    """A photo or file, stored once by its sha256 (content-addressed, tamper-evident)."""

    __tablename__ = "task_attachment"
    __table_args__ = (UniqueConstraint("feedback_id", "sha256"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    feedback_id: Mapped[int] = mapped_column(ForeignKey("task_feedback.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]

    feedback: Mapped[TaskFeedback] = relationship(back_populates="attachments")
