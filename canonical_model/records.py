"""What arrived from each source, where each sync stands, and what could not be stored.

A ``SourceRecord`` keeps the payload exactly as received plus its canonical mapping; when the
content hash changes the previous version moves to ``SourceRecordHistory``, so nothing a
source ever said is lost. The cursor in ``SyncState`` is committed in the same transaction as
the records it covers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from canonical_model.base import Base, IdType, utcnow
from canonical_model.enums import QuarantineStatus, str_enum


class SourceRecord(Base):
    __tablename__ = "source_record"
    __table_args__ = (
        UniqueConstraint("source", "stream", "source_key"),
        Index("ix_source_record_unresolved", "person_id", "source"),
        Index("ix_source_record_cursor", "source", "updated_at", "id"),  # migration 0008
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    source: Mapped[str] = mapped_column(String(40))  # hukou, civil_affairs, hotline, …
    stream: Mapped[str] = mapped_column(String(60))  # persons, dibao, work_orders, …
    source_key: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))  # sha256 hex of the canonical payload
    payload: Mapped[dict[str, Any]]  # as received (parsed), for lineage and re-mapping
    canonical: Mapped[dict[str, Any]]  # the mapping into canonical fields
    version: Mapped[int] = mapped_column(default=1)
    batch_id: Mapped[str] = mapped_column(String(40), index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))


class SourceRecordHistory(Base):
    """A superseded version of a source record: what the source said before it changed."""

    __tablename__ = "source_record_history"
    __table_args__ = (UniqueConstraint("source_record_id", "version"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    source_record_id: Mapped[int] = mapped_column(
        ForeignKey("source_record.id", ondelete="CASCADE")
    )
    version: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    batch_id: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime]
    superseded_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncState(Base):
    """One cursor per source stream: a watermark, a page token or Kafka offsets (JSON)."""

    __tablename__ = "sync_state"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    stream: Mapped[str] = mapped_column(String(60), primary_key=True)
    cursor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    records_seen: Mapped[int] = mapped_column(default=0)
    last_batch_id: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Quarantine(Base):
    """A record that failed validation or mapping, kept byte for byte with its reason."""

    __tablename__ = "quarantine"
    __table_args__ = (Index("ix_quarantine_open", "source", "stream", "status"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    stream: Mapped[str] = mapped_column(String(60))
    source_key: Mapped[str | None] = mapped_column(String(200))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    reason_code: Mapped[str] = mapped_column(String(60))  # e.g. resident_id.check_digit
    reason: Mapped[str] = mapped_column(Text)  # human text, free of personal data
    batch_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[QuarantineStatus] = mapped_column(
        str_enum(QuarantineStatus), default=QuarantineStatus.OPEN
    )
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None]
