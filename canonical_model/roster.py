"""Who can take a task, which rules raise tasks, and the daily task figures.

The roster (grid workers, community and district admins, social organisations) is the
other half of dispatch: a task is only as good as the person it reaches. Rules are stored
as versions, so a district can change them without a release and say afterwards which
rules were in force when a task was raised. ``TaskDailyStats`` keeps one row per day,
place, category and party, so district-wide measures read thousands of rows, not millions
of tasks.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from canonical_model.base import Base, IdType, utcnow
from canonical_model.work import Task


class GridWorker(Base):
    """A grid worker (网格员) or an admin; ``grid_code`` is the unit they answer for.

    A worker's unit is a grid; a community admin's a community, a district admin's the
    district: escalation walks up the same hierarchy as the codes.
    """

    __tablename__ = "grid_worker"
    __table_args__ = (Index("ix_grid_worker_duty", "grid_code", "active", "on_duty"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)  # WG330106001001001, …
    name: Mapped[str] = mapped_column(String(60))
    phone: Mapped[str | None] = mapped_column(String(32))
    grid_code: Mapped[str] = mapped_column(ForeignKey("grid_unit.code", ondelete="RESTRICT"))
    role: Mapped[str] = mapped_column(String(30), default="grid_worker")
    on_duty: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)
    skills: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ServiceOrganisation(Base):
    """A social organisation (社会组织) or volunteer team that takes orders (接单).

    ``area_codes`` are grid-unit codes (usually communities) it serves; any task whose
    place starts with one of them is in its area.
    """

    __tablename__ = "service_organisation"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(30), default="social_organisation")  # volunteers…
    credit_code: Mapped[str | None] = mapped_column(String(18))  # 统一社会信用代码
    phone: Mapped[str | None] = mapped_column(String(32))
    categories: Mapped[list[str]] = mapped_column(default=list)  # elder_care, mediation, …
    area_codes: Mapped[list[str]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RulesVersion(Base):
    """One loaded rules file, kept whole; exactly one version is active at a time."""

    __tablename__ = "rules_version"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content: Mapped[str] = mapped_column(Text)
    source_name: Mapped[str | None] = mapped_column(String(200))
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    loaded_by: Mapped[str] = mapped_column(String(80))
    active: Mapped[bool] = mapped_column(default=False, index=True)


class TaskDailyStats(Base):
    """Task figures for one creation day (or month), place, category and party.

    Rows for a day are rebuilt whole whenever a task created that day changes, so every
    count answers "of the tasks created that day"; decisions (accept/reject) are counted
    under the party that made them, which need not be the final assignee. ``period`` is
    ``day`` or ``month`` (a month row, dated the 1st, sums that month's day rows), so a
    year of figures is a few thousand month rows. Empty strings, not NULLs, stand for
    "none" so the natural key stays unique on every database.
    """

    __tablename__ = "task_daily_stats"
    __table_args__ = (
        UniqueConstraint(
            "period",
            "day",
            "grid_code",
            "category",
            "party_kind",
            "party",
            name="uq_task_daily_stats_key",
        ),
        Index("ix_task_daily_stats_party", "party_kind", "party", "day"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    period: Mapped[str] = mapped_column(String(5), default="day")
    day: Mapped[date] = mapped_column(Date)
    grid_code: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(60))
    party_kind: Mapped[str] = mapped_column(String(20))  # worker, org, community, district
    party: Mapped[str] = mapped_column(String(80))
    created: Mapped[int] = mapped_column(default=0)
    responded: Mapped[int] = mapped_column(default=0)
    completed: Mapped[int] = mapped_column(default=0)
    resolved: Mapped[int] = mapped_column(default=0)
    on_time: Mapped[int] = mapped_column(default=0)
    with_deadline: Mapped[int] = mapped_column(default=0)
    closed: Mapped[int] = mapped_column(default=0)
    rated: Mapped[int] = mapped_column(default=0)
    rating_sum: Mapped[int] = mapped_column(default=0)
    satisfied: Mapped[int] = mapped_column(default=0)
    good: Mapped[int] = mapped_column(default=0)
    accepts: Mapped[int] = mapped_column(default=0)
    rejects: Mapped[int] = mapped_column(default=0)
    refreshed_at: Mapped[datetime] = mapped_column(default=utcnow)


# Measures read tasks by creation time and the daily-stats refresh by change time; the
# indexes live here, with the code that needs them, rather than in ``work.py``.
Index("ix_task_created_at", Task.created_at)
Index("ix_task_updated_at", Task.updated_at)

__all__ = ["GridWorker", "RulesVersion", "ServiceOrganisation", "TaskDailyStats"]
