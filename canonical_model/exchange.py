"""What crosses the hub's boundary: the outbox to source systems and the exchange log.

The outbox row is written in the same transaction as the change that causes it, so a
write-back is never lost and never sent for a change that rolled back. The exchange log is
append-only; the ``audit`` package owns its hash chain and signatures.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from canonical_model.base import Base, IdType, utcnow
from canonical_model.enums import Direction, OutboxState, str_enum


class Outbox(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    destination: Mapped[str] = mapped_column(String(40))  # hotline, device_gateway, …
    operation: Mapped[str] = mapped_column(String(60))
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    payload: Mapped[dict[str, Any]]
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("task.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[OutboxState] = mapped_column(str_enum(OutboxState), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class ExchangeLogEntry(Base):
    """One hop across the boundary. ``entry_hash`` = sha256(canonical JSON + prev_hash)."""

    __tablename__ = "exchange_log"
    __table_args__ = (
        Index("ix_exchange_log_counterpart", "counterpart", "at"),
        Index("ix_exchange_log_actor", "actor_subject", "at"),
    )

    seq: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    direction: Mapped[Direction] = mapped_column(str_enum(Direction, 10))
    counterpart: Mapped[str] = mapped_column(String(80))
    actor_subject: Mapped[str] = mapped_column(String(120))
    actor_role: Mapped[str | None] = mapped_column(String(30))
    purpose: Mapped[str | None] = mapped_column(String(60))
    operation: Mapped[str] = mapped_column(String(80))
    object_refs: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"persons": [...], …}
    record_count: Mapped[int] = mapped_column(default=0)
    payload_sha256: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(30), default="ok")
    correlation_id: Mapped[str | None] = mapped_column(String(80), index=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    # Not unique-indexed (migration 0014): the hash covers ``seq``, the primary key.
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed statement by the hub: "the log up to ``seq`` ends in ``entry_hash``"."""

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    seq: Mapped[int] = mapped_column(IdType, index=True)
    entry_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kid: Mapped[str] = mapped_column(String(100))
    jws: Mapped[str] = mapped_column(Text)
