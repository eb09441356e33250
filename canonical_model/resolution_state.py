"""What the master person index remembers between runs: decisions, history, its own index.

Resolution is re-run over and over (every sync, every night), so anything a human decided
must live in the store, not in a run: a rejected pair is never merged again, an accepted
one stays merged, a manual merge survives every full re-resolve. ``MatchReview`` is the
clerk's queue, ``ResolutionConstraint`` the must-link / cannot-link rules those decisions
leave behind, and ``PersonMergeLog`` every merge and unmerge with the snapshot that undoes
it. ``ResolutionEntry``, ``ResolutionBlock`` and ``ResolutionTerm`` are the index that lets
one new record be matched against a million persons with a few indexed lookups instead of
a batch run; ``ResolutionModel`` keeps the fitted weights so those lookups score the way
the last full run did. The watermark itself is a ``SyncState`` row (source ``resolution``).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from canonical_model.base import Base, IdType, JsonType, new_uid, utcnow
from canonical_model.enums import str_enum

__all__ = [
    "ConstraintKind",
    "MatchReview",
    "PersonMergeLog",
    "ResolutionBlock",
    "ResolutionConstraint",
    "ResolutionEntry",
    "ResolutionModel",
    "ResolutionTerm",
    "ReviewStatus",
]


class ReviewStatus(enum.StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"  # the two records are one person (the persons were merged)
    REJECTED = "rejected"  # two people: never merged automatically again
    WITHDRAWN = "withdrawn"  # a later run no longer found the pair doubtful; not a decision


class ConstraintKind(enum.StrEnum):
    MUST_LINK = "must_link"
    CANNOT_LINK = "cannot_link"


class MatchReview(Base):
    """A pair of source records the engine would not decide alone.

    Always a record pair, also when an incremental run weighed a newcomer against a
    person (``person_id`` is then that person and ``right_record_id`` its best record):
    a decision about records stays true whatever persons they are later grouped into.
    ``left_record_id < right_record_id``, so a pair has one row and its decision sticks.
    """

    __tablename__ = "match_review"
    __table_args__ = (
        UniqueConstraint("left_record_id", "right_record_id"),
        Index("ix_match_review_queue", "status", "score"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    uid: Mapped[str] = mapped_column(String(26), unique=True, default=new_uid)
    kind: Mapped[str] = mapped_column(String(20))  # record_pair, person_record
    left_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"))
    right_record_id: Mapped[int] = mapped_column(
        ForeignKey("source_record.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    score: Mapped[float] = mapped_column(Float)  # match probability
    match_weight: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(40))  # guard name, conflicting_ids, grey_zone
    levels: Mapped[dict[str, Any]] = mapped_column(default=dict)  # comparison → level label
    status: Mapped[ReviewStatus] = mapped_column(str_enum(ReviewStatus), default=ReviewStatus.OPEN)
    decided_by: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ResolutionConstraint(Base):
    """A human's word on two records, enforced by every later run, full or incremental."""

    __tablename__ = "resolution_constraint"
    __table_args__ = (
        Index("ix_resolution_constraint_pair", "left_record_id", "right_record_id"),
        Index("ix_resolution_constraint_right", "right_record_id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    kind: Mapped[ConstraintKind] = mapped_column(str_enum(ConstraintKind))
    left_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"))
    right_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"))
    origin: Mapped[str] = mapped_column(String(20))  # review, merge, unmerge
    review_id: Mapped[int | None] = mapped_column(
        ForeignKey("match_review.id", ondelete="SET NULL")
    )
    merge_log_id: Mapped[int | None] = mapped_column(
        ForeignKey("person_merge_log.id", ondelete="SET NULL"), index=True
    )
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PersonMergeLog(Base):
    """One merge or unmerge: who, when, why, and everything needed to take it back.

    ``snapshot`` lists what moved from the absorbed person to the survivor (source
    records, identifiers, household memberships, events, tasks, lineage) and the absorbed
    person's golden fields, so an unmerge restores the same person under the same uid.
    ``automatic`` marks merges a resolution run made; a manual one is never undone by a run.
    """

    __tablename__ = "person_merge_log"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    uid: Mapped[str] = mapped_column(String(26), unique=True, default=new_uid)
    action: Mapped[str] = mapped_column(String(20))  # merge, unmerge
    from_person_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    into_person_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    actor: Mapped[str] = mapped_column(String(80))
    automatic: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    review_id: Mapped[int | None] = mapped_column(
        ForeignKey("match_review.id", ondelete="SET NULL")
    )
    undoes_id: Mapped[int | None] = mapped_column(
        ForeignKey("person_merge_log.id", ondelete="SET NULL")
    )
    undone_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person_merge_log.id", ondelete="SET NULL")
    )
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ResolutionModel(Base):
    """A fitted model (m, u, λ as JSON; aggregates only, no values) and when it was fitted."""

    __tablename__ = "resolution_model"
    __table_args__ = (Index("ix_resolution_model_profile", "profile", "active"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    profile: Mapped[str] = mapped_column(String(60))
    model_json: Mapped[str] = mapped_column(Text)
    records: Mapped[int] = mapped_column(default=0)  # how many records it was fitted on
    active: Mapped[bool] = mapped_column(default=True)
    fitted_at: Mapped[datetime] = mapped_column(default=utcnow)


class ResolutionEntry(Base):
    """A record's normalised features as last resolved, so nothing is normalised twice.

    ``features`` is a list in the profile's feature order (``None`` where empty);
    ``version`` is the source record's version they were computed from, which is how a
    run finds records that changed after they were resolved.
    """

    __tablename__ = "resolution_entry"

    source_record_id: Mapped[int] = mapped_column(
        ForeignKey("source_record.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int]
    sufficient: Mapped[bool]
    features: Mapped[list[str | None]] = mapped_column(JsonType)


class ResolutionBlock(Base):
    """One blocking key of one record: a hash of (rule, side, values), never the values.

    On SQLite the table has no rowid (its primary key is the table): a full run rewrites
    millions of these rows, and a rowid would write each of them twice."""

    __tablename__ = "resolution_block"
    __table_args__ = (
        Index("ix_resolution_block_record", "source_record_id"),
        {"sqlite_with_rowid": False},
    )

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    source_record_id: Mapped[int] = mapped_column(
        ForeignKey("source_record.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )


class ResolutionTerm(Base):
    """How many indexed records hold a value (hashed): term frequencies for scoring."""

    __tablename__ = "resolution_term"

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(default=0)
