"""How well the district answers: the 12345 and community-platform rates, and rankings.

Definitions (each over the tasks *created* in the window, so a window's figures do not
change meaning as tasks age):

* response rate — tasks a worker or organisation answered (accepted or refused) / created
* acceptance rate — accept decisions / (accept + reject decisions) (Putuo: 138/181 = 76.2%)
* resolution rate — completed with result "resolved" / completed
* on-time rate — completed by the deadline / completed with a deadline
* satisfaction rate — rated 3 stars or more (满意 + 基本满意) / rated
* good-rating rate — rated 4 or 5 stars (好评) / rated

Whole local days up to the last ``daily_stats`` run come from ``task_daily_stats``; the
rest of the window (partial days at the edges, days since the last run) is aggregated
from the tasks, so any window is exact as of the last stats run and fast at any size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from canonical_model.roster import TaskDailyStats
from workflow.stats import (
    COUNTS,
    LOCAL_TZ,
    Counts,
    StatKey,
    aggregate,
    day_bounds,
    month_after,
    stats_through,
)

__all__ = ["GROUPINGS", "RATES", "Figures", "measures", "ranking"]

#: group_by → code length of the place prefix, or the dimension it names
GROUPINGS = ("all", "district", "subdistrict", "community", "grid", "category", "worker", "org")
_PREFIX = {"district": 6, "subdistrict": 9, "community": 12}
RATES = (
    "response_rate",
    "acceptance_rate",
    "resolution_rate",
    "on_time_rate",
    "satisfaction_rate",
    "good_rating_rate",
)


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


@dataclass(slots=True)
class Figures:
    counts: Counts = field(default_factory=Counts)

    @property
    def response_rate(self) -> float | None:
        return _ratio(self.counts.responded, self.counts.created)

    @property
    def acceptance_rate(self) -> float | None:
        return _ratio(self.counts.accepts, self.counts.accepts + self.counts.rejects)

    @property
    def resolution_rate(self) -> float | None:
        return _ratio(self.counts.resolved, self.counts.completed)

    @property
    def on_time_rate(self) -> float | None:
        return _ratio(self.counts.on_time, self.counts.with_deadline)

    @property
    def satisfaction_rate(self) -> float | None:
        return _ratio(self.counts.satisfied, self.counts.rated)

    @property
    def good_rating_rate(self) -> float | None:
        return _ratio(self.counts.good, self.counts.rated)

    @property
    def average_rating(self) -> float | None:
        return round(self.counts.rating_sum / self.counts.rated, 2) if self.counts.rated else None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self.counts, name) for name in COUNTS}
        out.update({rate: getattr(self, rate) for rate in RATES})
        out["average_rating"] = self.average_rating
        return out


def _key_of(key: StatKey, group_by: str) -> str | None:
    if group_by == "all":
        return "all"
    if group_by in _PREFIX:
        return key.grid_code[: _PREFIX[group_by]]
    if group_by == "grid":
        return key.grid_code
    if group_by == "category":
        return key.category
    return key.party if key.party_kind == group_by and key.party else None


def _covered_days(
    start: datetime, end: datetime, through: date | None, tz: ZoneInfo
) -> tuple[date, date] | None:
    """The whole local days inside [start, end) that the stored figures cover."""
    if through is None:
        return None
    first = start.astimezone(tz).date()
    if day_bounds(first, tz)[0] < start:
        first += timedelta(days=1)
    last = end.astimezone(tz).date() - timedelta(days=1)
    if day_bounds(last, tz)[1] > end:
        last -= timedelta(days=1)
    last = min(last, through)
    return (first, last) if first <= last else None


def _periods(first: date, last: date) -> list[tuple[str, date, date]]:
    """[first, last] as whole months (month rows) plus the loose days at either end."""
    month = first if first.day == 1 else month_after(first.replace(day=1))
    months: list[date] = []
    while month_after(month) - timedelta(days=1) <= last:
        months.append(month)
        month = month_after(month)
    if not months:
        return [("day", first, last)]
    out = [("month", months[0], months[-1])]
    if first < months[0]:
        out.append(("day", first, months[0] - timedelta(days=1)))
    tail = month_after(months[-1])
    if tail <= last:
        out.append(("day", tail, last))
    return out


def _stored(
    session: Session, days: tuple[date, date], group_by: str, scope: str | None
) -> dict[str, Counts]:
    out: dict[str, Counts] = {}
    for period, first, last in _periods(*days):
        for key, counts in _stored_period(session, period, first, last, group_by, scope).items():
            out.setdefault(key, Counts()).add(counts)
    return out


def _stored_period(
    session: Session, period: str, first: date, last: date, group_by: str, scope: str | None
) -> dict[str, Counts]:
    s = TaskDailyStats
    if group_by == "all":
        dim: Any = literal("all")
    elif group_by in _PREFIX:
        dim = func.substr(s.grid_code, 1, _PREFIX[group_by])
    elif group_by in ("grid", "category"):
        dim = s.grid_code if group_by == "grid" else s.category
    else:
        dim = s.party
    query = (
        select(dim, *(func.sum(getattr(s, name)) for name in COUNTS))
        .where(s.period == period, s.day >= first, s.day <= last)
        .group_by(dim)
    )
    if group_by in ("worker", "org"):
        query = query.where(s.party_kind == group_by, s.party != "")
    if scope:
        query = query.where(s.grid_code.startswith(scope))
    out: dict[str, Counts] = {}
    for row in session.execute(query):
        out[str(row[0])] = Counts(*(int(v or 0) for v in row[1:]))
    return out


def measures(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    group_by: str = "all",
    scope: str | None = None,
    tz: ZoneInfo = LOCAL_TZ,
    use_stats: bool = True,
) -> dict[str, Figures]:
    """Figures per group for tasks created in [start, end), within ``scope`` (a unit code)."""
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPINGS)}")
    covered = _covered_days(start, end, stats_through(session), tz) if use_stats else None
    result: dict[str, Figures] = {}

    def merge(key: str, counts: Counts) -> None:
        result.setdefault(key, Figures()).counts.add(counts)

    raw_spans = [(start, end)]
    if covered is not None:
        for key, counts in _stored(session, covered, group_by, scope).items():
            merge(key, counts)
        raw_spans = [(start, day_bounds(covered[0], tz)[0]), (day_bounds(covered[1], tz)[1], end)]
    for lo, hi in raw_spans:
        if lo >= hi:
            continue
        for stat_key, counts in aggregate(session, lo, hi).items():
            if scope and not stat_key.grid_code.startswith(scope):
                continue
            group = _key_of(stat_key, group_by)
            if group is not None:
                merge(group, counts)
    return result


def ranking(
    session: Session,
    *,
    by: str,
    start: datetime,
    end: datetime,
    order: str = "good_rating_rate",
    scope: str | None = None,
    min_created: int = 1,
    limit: int = 20,
) -> list[tuple[str, Figures]]:
    """Best first by ``order`` (a rate or a count), ties broken by tasks completed."""
    if order not in RATES and order not in COUNTS:
        raise ValueError(f"order must be one of {', '.join(RATES + COUNTS)}")
    figures = measures(session, start=start, end=end, group_by=by, scope=scope)

    def score(item: tuple[str, Figures]) -> tuple[float, int, str]:
        f = item[1]
        value = getattr(f, order) if order in RATES else getattr(f.counts, order)
        return (-1.0 if value is None else float(value), f.counts.completed, item[0])

    eligible = [
        (k, f)
        for k, f in figures.items()
        if f.counts.created >= min_created or f.counts.accepts + f.counts.rejects > 0
    ]
    return sorted(eligible, key=score, reverse=True)[:limit]
