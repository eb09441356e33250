"""Task figures per day, place, category and party: computed from tasks, kept daily.

One aggregation (:func:`aggregate`) serves both paths: the ``daily_stats`` job stores its
result per local day in ``task_daily_stats`` so district-wide measures over a million
tasks read a few hundred thousand small rows; the measures compute the uncovered edges of
a window (today, a partial day) with the same function from the tasks themselves. A day's
rows are rebuilt whole when any task created that day changes, so they never drift.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, and_, case, delete, func, insert, literal, select
from sqlalchemy.orm import Session

from canonical_model import SyncState, Task, TaskFeedback, TaskState, TaskTransition
from canonical_model.roster import TaskDailyStats

__all__ = [
    "COUNTS",
    "LOCAL_TZ",
    "Counts",
    "StatKey",
    "aggregate",
    "day_bounds",
    "month_after",
    "refresh_daily_stats",
    "stats_through",
]

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
STATE_KEY = ("workflow", "daily_stats")


@dataclass(slots=True)
class Counts:
    created: int = 0
    responded: int = 0
    completed: int = 0
    resolved: int = 0
    on_time: int = 0
    with_deadline: int = 0
    closed: int = 0
    rated: int = 0
    rating_sum: int = 0
    satisfied: int = 0
    good: int = 0
    accepts: int = 0
    rejects: int = 0

    def add(self, other: Counts) -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


COUNTS: tuple[str, ...] = tuple(f.name for f in fields(Counts))


@dataclass(frozen=True, slots=True)
class StatKey:
    grid_code: str
    category: str
    party_kind: str
    party: str


@dataclass(slots=True)
class _Acc:
    rows: dict[StatKey, Counts] = field(default_factory=dict)

    def at(self, key: StatKey) -> Counts:
        return self.rows.setdefault(key, Counts())


def day_bounds(day: date, tz: ZoneInfo = LOCAL_TZ) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tz)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def _n(value: Any) -> int:
    return int(value or 0)


def aggregate(session: Session, start: datetime, end: datetime) -> dict[StatKey, Counts]:
    """Figures of the tasks created in [start, end), by place, category and party."""
    t = Task
    completed_at = (
        select(func.max(TaskTransition.at))
        .where(TaskTransition.task_id == t.id, TaskTransition.action == "complete")
        .scalar_subquery()
    )
    responded = (
        select(TaskTransition.id)
        .where(TaskTransition.task_id == t.id, TaskTransition.action.in_(("accept", "reject")))
        .exists()
    )
    resolved = (
        select(TaskFeedback.id)
        .where(TaskFeedback.task_id == t.id, TaskFeedback.result == "resolved")
        .exists()
    )
    done = t.state.in_((TaskState.COMPLETED, TaskState.CLOSED))

    def count_if(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    inner = (
        select(
            func.coalesce(t.grid_code, "").label("g"),
            t.category.label("c"),
            t.assignee_kind.label("k"),
            func.coalesce(t.assignee, "").label("p"),
            t.state.label("state"),
            t.rating.label("rating"),
            t.sla_deadline.label("deadline"),
            completed_at.label("completed_at"),
            case((responded, 1), else_=0).label("responded"),
            case((and_(done, resolved), 1), else_=0).label("resolved"),
        )
        .where(t.created_at >= start, t.created_at < end)
        .subquery()
    )
    q = inner.c
    finished = q.state.in_((TaskState.COMPLETED, TaskState.CLOSED))
    timed = and_(finished, q.deadline.is_not(None), q.completed_at.is_not(None))
    acc = _Acc()
    for row in session.execute(
        select(
            q.g,
            q.c,
            q.k,
            q.p,
            func.count(),
            func.sum(q.responded),
            count_if(finished),
            func.sum(q.resolved),
            count_if(and_(timed, q.completed_at <= q.deadline)),
            count_if(timed),
            count_if(q.state == TaskState.CLOSED),
            count_if(q.rating.is_not(None)),
            func.sum(func.coalesce(q.rating, 0)),
            count_if(q.rating >= 3),
            count_if(q.rating >= 4),
        ).group_by(q.g, q.c, q.k, q.p)
    ):
        counts = acc.at(StatKey(row[0], row[1], row[2], row[3]))
        for name, value in zip(COUNTS[:11], row[4:], strict=True):
            setattr(counts, name, _n(value))
    tt = TaskTransition
    for g, c, role, actor, accepts, rejects in session.execute(
        select(
            func.coalesce(t.grid_code, ""),
            t.category,
            tt.actor_role,
            tt.actor,
            count_if(tt.action == "accept"),
            count_if(tt.action == "reject"),
        )
        .join(t, t.id == tt.task_id)
        .where(tt.action.in_(("accept", "reject")), t.created_at >= start, t.created_at < end)
        .group_by(t.grid_code, t.category, tt.actor_role, tt.actor)
    ):
        counts = acc.at(StatKey(g, c, "org" if role == "org" else "worker", actor))
        counts.accepts += _n(accepts)
        counts.rejects += _n(rejects)
    return acc.rows


def _local_days(values: Iterable[datetime], tz: ZoneInfo) -> set[date]:
    return {v.astimezone(tz).date() for v in values}


def stats_through(session: Session) -> date | None:
    """The last local day the stored figures cover completely (None before the first run)."""
    state = session.get(SyncState, STATE_KEY)
    through = (state.cursor or {}).get("through") if state else None
    return date.fromisoformat(through) if through else None


def month_after(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _roll_up_month(session: Session, month: date, now: datetime) -> None:
    """The month's row per key: the sum of its day rows, so a year reads 12 rows a key."""
    s = TaskDailyStats
    session.execute(delete(s).where(s.period == "month", s.day == month))
    keys = (s.grid_code, s.category, s.party_kind, s.party)
    sums = (
        select(
            literal("month"),
            literal(month, type_=Date),
            *keys,
            *(func.sum(getattr(s, name)) for name in COUNTS),
            literal(now, type_=s.refreshed_at.type),
        )
        .where(s.period == "day", s.day >= month, s.day < month_after(month))
        .group_by(*keys)
    )
    columns = ["period", "day", "grid_code", "category", "party_kind", "party", *COUNTS]
    session.execute(insert(s).from_select([*columns, "refreshed_at"], sums))


def refresh_daily_stats(
    session: Session, *, now: datetime, tz: ZoneInfo = LOCAL_TZ
) -> dict[str, Any]:
    """Rebuild the rows of every day whose tasks changed since the last run."""
    state = session.get(SyncState, STATE_KEY)
    if state is None:
        state = SyncState(source=STATE_KEY[0], stream=STATE_KEY[1], cursor={})
        session.add(state)
    since = (state.cursor or {}).get("changed_since")
    query = select(Task.created_at)
    if since:
        query = query.where(Task.updated_at > datetime.fromisoformat(since))
    days = sorted(_local_days(session.scalars(query.execution_options(yield_per=50_000)), tz))
    rows = 0
    for day in days:
        start, end = day_bounds(day, tz)
        session.execute(delete(TaskDailyStats).where(TaskDailyStats.day == day))
        batch = [
            {
                "period": "day",
                "day": day,
                "grid_code": key.grid_code,
                "category": key.category,
                "party_kind": key.party_kind,
                "party": key.party,
                "refreshed_at": now,
                **{name: getattr(counts, name) for name in COUNTS},
            }
            for key, counts in aggregate(session, start, end).items()
        ]
        if batch:
            session.execute(insert(TaskDailyStats), batch)
        rows += len(batch)
    for month in sorted({d.replace(day=1) for d in days}):
        _roll_up_month(session, month, now)
    through = now.astimezone(tz).date() - timedelta(days=1)
    # a little overlap: a task changed while this ran is picked up again next time
    since_next = now - timedelta(minutes=5)
    state.cursor = {"changed_since": since_next.isoformat(), "through": through.isoformat()}
    state.updated_at = now
    session.flush()
    return {"days": len(days), "rows": rows, "through": through.isoformat()}
