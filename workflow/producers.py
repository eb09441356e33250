"""Events derived from what the sources said: hotline work orders, health, civil affairs.

Each producer reads source records changed since its watermark (``sync_state``, source
``workflow``), publishes events through the same intake as everyone else, and moves the
watermark in the same transaction, so a crash repeats a batch at worst, and a repeated
report is a no-op (events are idempotent per source and source reference).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy.orm import Session

from canonical_model import Severity, SyncState, utcnow
from workflow.events import IntakeStatus
from workflow.producer_scan import AddressBook, RecordView, address_book, lookup, next_page
from workflow.rules import RuleSet
from workflow.triage import publish_event

__all__ = [
    "PRODUCERS",
    "ProducerReport",
    "events_from_civil_affairs",
    "events_from_health",
    "events_from_hotline",
    "produce",
    "watermark",
]

WATERMARK_SOURCE = "workflow"
_URGENT = {"紧急", "特急", "urgent", "emergency", "high"}
_DIBAO = {"低保", "dibao", "最低生活保障", "城乡低保"}
_INPATIENT = {"inpatient", "IMP", "住院", "ACUTE", "NONAC"}


@dataclass(slots=True)
class ProducerReport:
    producer: str
    records: int = 0
    events: int = 0
    joined: int = 0
    duplicates: int = 0
    tasks: int = 0
    rule_failures: int = 0
    more: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event a producer wants raised; the intake decides new, joined or duplicate."""

    type: str
    occurred_at: datetime
    source_ref: str
    severity: Severity = Severity.MEDIUM
    dedup_key: str | None = None
    grid_code: str | None = None
    address_id: int | None = None
    payload: dict[str, Any] | None = None


def watermark(session: Session, producer: str) -> SyncState:
    stream = f"producer.{producer}"
    state = session.get(SyncState, (WATERMARK_SOURCE, stream))
    if state is None:
        state = SyncState(source=WATERMARK_SOURCE, stream=stream, cursor={}, records_seen=0)
        session.add(state)
    return state


def _when(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            try:
                parsed = datetime.combine(date.fromisoformat(value[:10]), time(0))
            except ValueError:
                return fallback
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=fallback.tzinfo)
    return fallback


def events_from_hotline(record: RecordView, addresses: AddressBook) -> Iterator[EventSpec]:
    """A 12345 work order: one event; orders about one thing at one building join."""
    canonical = record.canonical or {}
    facts = canonical.get("facts") or {}
    order_no = str(facts.get("order_no") or facts.get("order_number") or record.source_key)
    category = str(facts.get("category") or "")
    urgency = facts.get("urgency")
    address_id, building = lookup(addresses, canonical)
    where = building or (
        canonical.get("address") if isinstance(canonical.get("address"), str) else None
    )
    yield EventSpec(
        type="hotline.work_order",
        occurred_at=_when(
            facts.get("dispatched_at") or facts.get("created_at"), record.received_at
        ),
        source_ref=order_no,
        severity=Severity.HIGH if str(urgency) in _URGENT else Severity.MEDIUM,
        dedup_key=f"hotline:{category}@{where}" if where else None,
        grid_code=building,
        address_id=address_id,
        payload={
            "order_no": order_no,
            "category": category,
            "urgency": urgency,
            "text": facts.get("text") or facts.get("content"),
            "deadline": facts.get("deadline"),
        },
    )


def events_from_civil_affairs(record: RecordView, addresses: AddressBook) -> Iterator[EventSpec]:
    """A new 低保 recipient (home visit) and a death (benefits review); hukou deaths too."""
    canonical = record.canonical or {}
    facts = canonical.get("facts") or {}
    tags = set(canonical.get("tags") or ())
    base = f"{record.stream}/{record.source_key}"
    address_id, building = lookup(addresses, canonical)
    if canonical.get("status") == "deceased":
        yield EventSpec(
            type="civil_affairs.death",
            occurred_at=_when(facts.get("death_date"), record.updated_at),
            source_ref=f"{base}/death",
            dedup_key=f"death:{record.person_id}" if record.person_id else None,
            grid_code=building,
            address_id=address_id,
            payload={"reported_by": record.source},
        )
    elif record.source == "civil_affairs" and ("dibao" in tags or facts.get("category") in _DIBAO):
        yield EventSpec(
            type="civil_affairs.dibao_new",
            occurred_at=_when(facts.get("start_date"), record.received_at),
            source_ref=f"{base}/dibao",
            grid_code=building,
            address_id=address_id,
            payload={"benefit": "dibao"},
        )


def _encounters(facts: dict[str, Any]) -> list[dict[str, Any]]:
    found = facts.get("encounters") or facts.get("encounter") or []
    return [e for e in (found if isinstance(found, list) else [found]) if isinstance(e, dict)]


def events_from_health(record: RecordView, addresses: AddressBook) -> Iterator[EventSpec]:
    """A hospital discharge (住院出院); the rules decide whether it needs a follow-up."""
    canonical = record.canonical or {}
    address_id, building = lookup(addresses, canonical)
    for enc in _encounters(canonical.get("facts") or {}):
        kind = str(enc.get("class") or enc.get("encounter_class") or "")
        end = enc.get("discharged_at") or enc.get("period_end") or enc.get("end")
        if kind not in _INPATIENT or not end:
            continue
        yield EventSpec(
            type="health.discharge",
            occurred_at=_when(end, record.updated_at),
            source_ref=f"{record.source_key}/{enc.get('id') or end}",
            grid_code=building,
            address_id=address_id,
            payload={"encounter_class": kind},
        )


Deriver = Callable[[RecordView, AddressBook], Iterator[EventSpec]]
#: producer name → (sources it reads, how a record becomes events)
PRODUCERS: dict[str, tuple[tuple[str, ...], Deriver]] = {
    "hotline": (("hotline",), events_from_hotline),
    "civil_affairs": (("civil_affairs", "hukou"), events_from_civil_affairs),
    "health": (("health",), events_from_health),
}


def produce(
    session: Session,
    name: str,
    *,
    rules: RuleSet,
    now: datetime | None = None,
    limit: int = 500,
) -> ProducerReport:
    """One batch of ``name``'s changed records → events → tasks; ``more`` says go again."""
    now = now or utcnow()
    sources, derive = PRODUCERS[name]
    state = watermark(session, name)
    after_time = state.cursor.get("updated_at")
    after = (
        (datetime.fromisoformat(after_time), int(state.cursor.get("id", 0))) if after_time else None
    )
    records = next_page(session, sources, after, limit)
    report = ProducerReport(name, records=len(records), more=len(records) == limit)
    addresses = address_book(session, records)
    for record in records:
        for spec in derive(record, addresses):
            published = publish_event(
                session,
                type=spec.type,
                occurred_at=spec.occurred_at,
                source=record.source,
                source_ref=spec.source_ref,
                severity=spec.severity,
                person_id=record.person_id,
                address_id=spec.address_id,
                grid_code=spec.grid_code,
                dedup_key=spec.dedup_key,
                payload=spec.payload,
                rules=rules,
                now=now,
            )
            status = published.intake.status
            report.events += status is IntakeStatus.NEW
            report.joined += status is IntakeStatus.JOINED
            report.duplicates += status is IntakeStatus.DUPLICATE
            report.tasks += len(published.tasks) if status is IntakeStatus.NEW else 0
            report.rule_failures += len(published.failures)
    if records:
        last = records[-1]
        state.cursor = {"updated_at": last.updated_at.isoformat(), "id": last.id}
        state.records_seen = (state.records_seen or 0) + len(records)
        state.updated_at = now
    session.flush()
    return report
