"""Welfare and leak signals in utility readings: no use for days, or a sudden spike.

An old person living alone whose flat has used no water and no power for three days may
be lying on the floor; a flat whose water use jumps tenfold may have a burst pipe. The
producer reads ``utility_reading`` (account, kind, reading_date, usage,
address_normalized; one row per account, kind and day), only at addresses where someone
lives (a vacant flat using nothing is not news), and leaves the decision to the rules
(age, living alone). Consecutive silent days join one event. The table belongs to the
utility adapter; it is read through a light table clause so this module does not depend
on that model, and a store without it is simply skipped.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, Float, String, column, func, inspect, select, table
from sqlalchemy.orm import Session

from canonical_model import Address, Person, PersonStatus, Severity, utcnow
from workflow.events import IntakeStatus
from workflow.producers import ProducerReport, watermark
from workflow.rules import RuleSet
from workflow.triage import publish_event

__all__ = ["UTILITY_READING", "UtilityThresholds", "produce_utility"]

UTILITY_READING = table(
    "utility_reading",
    column("account", String),
    column("kind", String),
    column("reading_date", Date),
    column("usage", Float),
    column("address_normalized", String),
)
_R = UTILITY_READING.c


@dataclass(frozen=True, slots=True)
class UtilityThresholds:
    silent_days: int = 3  # days in a row with zero use
    spike_factor: float = 5.0  # × the average of the baseline days
    spike_min_usage: float = 1.0  # ignore spikes from almost nothing
    baseline_days: int = 30
    kinds: tuple[str, ...] = ("water", "power")


@dataclass(frozen=True, slots=True)
class _Home:
    person_id: int | None  # the resident when exactly one lives there
    address_id: int
    building_code: str | None


def _homes(session: Session, addresses: set[str]) -> dict[str, _Home]:
    """Addresses where someone active lives, with the resident if they live alone."""
    if not addresses:
        return {}
    rows = session.execute(
        select(Address.normalized, Address.id, Address.building_code, Person.id)
        .join(Person, Person.residential_address_id == Address.id)
        .where(Address.normalized.in_(addresses), Person.status == PersonStatus.ACTIVE)
    ).all()
    people: dict[str, set[int]] = defaultdict(set)
    where: dict[str, tuple[int, str | None]] = {}
    for normalized, address_id, building, person_id in rows:
        people[normalized].add(person_id)
        where.setdefault(normalized, (address_id, building))
    return {a: _Home(next(iter(p)) if len(p) == 1 else None, *where[a]) for a, p in people.items()}


def _silent(session: Session, day: date, t: UtilityThresholds) -> list[dict[str, Any]]:
    first = day - timedelta(days=t.silent_days - 1)
    rows = session.execute(
        select(_R.account, _R.kind, _R.address_normalized)
        .where(_R.reading_date >= first, _R.reading_date <= day, _R.kind.in_(t.kinds))
        .group_by(_R.account, _R.kind, _R.address_normalized)
        .having(func.count() >= t.silent_days, func.sum(_R.usage) == 0)
    ).all()
    return [
        {
            "account": r.account,
            "kind": r.kind,
            "address": r.address_normalized,
            "days": t.silent_days,
        }
        for r in rows
    ]


def _spikes(session: Session, day: date, t: UtilityThresholds) -> list[dict[str, Any]]:
    baseline = dict(
        ((r.account, r.kind), float(r.avg))
        for r in session.execute(
            select(_R.account, _R.kind, func.avg(_R.usage).label("avg"))
            .where(
                _R.reading_date >= day - timedelta(days=t.baseline_days),
                _R.reading_date < day,
                _R.kind.in_(t.kinds),
            )
            .group_by(_R.account, _R.kind)
            .having(func.count() >= 7)  # a week of history before calling anything a spike
        )
    )
    out = []
    for r in session.execute(
        select(_R.account, _R.kind, _R.usage, _R.address_normalized).where(
            _R.reading_date == day, _R.kind.in_(t.kinds)
        )
    ):
        avg = baseline.get((r.account, r.kind))
        usage = float(r.usage or 0)
        if (
            avg is not None
            and usage >= t.spike_min_usage
            and usage > t.spike_factor * max(avg, 0.01)
        ):
            out.append(
                {
                    "account": r.account,
                    "kind": r.kind,
                    "address": r.address_normalized,
                    "usage": usage,
                    "baseline": round(avg, 3),
                }
            )
    return out


def produce_utility(
    session: Session,
    *,
    rules: RuleSet,
    now: datetime | None = None,
    thresholds: UtilityThresholds | None = None,
    max_days: int = 31,
) -> ProducerReport:
    """Every reading day after the watermark (up to ``max_days`` per run) → events."""
    now = now or utcnow()
    t = thresholds or UtilityThresholds()
    report = ProducerReport("utility")
    if not inspect(session.connection()).has_table("utility_reading"):
        return report
    state = watermark(session, "utility")
    after = state.cursor.get("reading_date")
    query = select(_R.reading_date).distinct().order_by(_R.reading_date)
    if after:
        query = query.where(_R.reading_date > date.fromisoformat(after))
    days = [
        d if isinstance(d, date) else date.fromisoformat(str(d))
        for d in session.scalars(query.limit(max_days + 1))
    ]
    report.more = len(days) > max_days
    for day in days[:max_days]:
        found = [("utility.no_usage", s) for s in _silent(session, day, t)] + [
            ("utility.spike", s) for s in _spikes(session, day, t)
        ]
        report.records += len(found)
        homes = _homes(session, {f["address"] for _, f in found if f["address"]})
        for event_type, facts in found:
            home = homes.get(facts["address"])
            if home is None:
                continue
            published = publish_event(
                session,
                type=event_type,
                occurred_at=datetime.combine(day, time(0), UTC),
                source="utility",
                source_ref=f"{facts['account']}:{facts['kind']}:{event_type}:{day.isoformat()}",
                severity=Severity.HIGH if event_type == "utility.no_usage" else Severity.MEDIUM,
                person_id=home.person_id,
                address_id=home.address_id,
                grid_code=home.building_code,
                # silence in water and power at one home is one event; a spike is per meter
                dedup_key=(
                    f"utility.no_usage@{home.address_id}"
                    if event_type == "utility.no_usage"
                    else f"utility.spike:{facts['account']}:{facts['kind']}"
                ),
                payload={k: v for k, v in facts.items() if k != "address"},
                rules=rules,
                window=timedelta(days=t.silent_days),
                now=now,
            )
            status = published.intake.status
            report.events += status is IntakeStatus.NEW
            report.joined += status is IntakeStatus.JOINED
            report.duplicates += status is IntakeStatus.DUPLICATE
            report.tasks += len(published.tasks) if status is IntakeStatus.NEW else 0
            report.rule_failures += len(published.failures)
        state.cursor = {"reading_date": day.isoformat()}
        state.updated_at = now
    session.flush()
    return report
