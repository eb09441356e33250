"""Producers derive events from the store incrementally: hotline, civil affairs, health, utility."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Column, Date, Float, MetaData, String, Table, insert, select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import Event, SourceRecord, Task
from canonical_model.store import transaction
from tests.workflow.district import (
    BUILDING1,
    BUILDING2,
    DISTRICT,
    GRID1,
    GRID2,
    T0,
    District,
    seed,
)
from workflow import default_rules, produce, produce_utility


def _record(source: str, stream: str, key: str, canonical: dict[str, Any], **kw: Any) -> Any:
    return SourceRecord(
        source=source,
        stream=stream,
        source_key=key,
        content_hash=key.ljust(64, "0")[:64],
        payload={},
        canonical=canonical,
        batch_id="b1",
        received_at=T0,
        updated_at=T0,
        **kw,
    )


def _tasks(s: Session) -> dict[str | None, Task]:
    return {t.requester_ref: t for t in s.scalars(select(Task))}


def test_hotline_civil_affairs_and_health_records_become_events(
    sessions: sessionmaker[Session],
) -> None:
    d: District = seed(sessions)
    order = {"category": "漏水", "urgency": "一般", "text": "楼道水管漏水"}
    with transaction(sessions) as s:
        s.add_all(
            [
                _record("hotline", "work_orders", "GD1", {"address": "A1", "facts": order}),
                _record(
                    "hotline",
                    "work_orders",
                    "GD2",
                    {
                        "address": "A1",
                        "facts": {**order, "dispatched_at": "2026-03-02T09:30+08:00"},
                    },
                ),
                _record(
                    "hotline",
                    "work_orders",
                    "GD3",
                    {"address": "远方某地", "facts": {"category": "独居老人求助"}},
                ),
                _record(
                    "civil_affairs",
                    "recipients",
                    "CA1",
                    {"tags": ["dibao"], "facts": {"category": "低保"}},
                    person_id=d.elder_id,
                ),
                _record(
                    "hukou", "persons", "HK1", {"status": "deceased"}, person_id=d.couple_ids[1]
                ),
                _record("hukou", "persons", "HK2", {"status": "deceased"}, person_id=d.young_id),
                _record(
                    "health",
                    "patients",
                    "P1",
                    {
                        "facts": {
                            "encounters": [
                                {"id": "e1", "class": "inpatient", "discharged_at": "2026-03-01"}
                            ]
                        }
                    },
                    person_id=d.elder_id,
                ),
                _record(
                    "health",
                    "patients",
                    "P2",
                    {"facts": {"encounter": {"class": "inpatient", "period_end": "2026-03-01"}}},
                    person_id=d.couple_ids[0],
                ),
            ]
        )
    rules = default_rules()
    with transaction(sessions) as s:
        hotline = produce(s, "hotline", rules=rules, now=T0)
        civil = produce(s, "civil_affairs", rules=rules, now=T0)
        health = produce(s, "health", rules=rules, now=T0)
    assert (hotline.records, hotline.events, hotline.joined, hotline.tasks) == (3, 2, 1, 2)
    assert (civil.records, civil.events, civil.tasks) == (3, 3, 2)  # a young death: no review
    assert (health.events, health.tasks) == (2, 1)  # the couple is not living alone
    with sessions() as s:
        tasks = _tasks(s)
        assert tasks["GD1"].category == "utilities"
        assert tasks["GD1"].grid_code == GRID1
        assert tasks["GD3"].category == "welfare_visit"
        assert (tasks["GD3"].assignee_kind, tasks["GD3"].grid_code) == ("district", DISTRICT)
        assert tasks["recipients/CA1/dibao"].requester_source == "civil_affairs"
        assert tasks["persons/HK1/death"].category == "benefits_review"
        assert tasks["persons/HK1/death"].grid_code == GRID2  # from the person's home
        assert tasks["P1/e1"].category == "follow_up_visit"
    with transaction(sessions) as s:  # nothing new: the watermark holds
        assert produce(s, "hotline", rules=rules, now=T0).records == 0
        gd1 = s.scalars(select(SourceRecord).where(SourceRecord.source_key == "GD1")).one()
        gd1.updated_at = T0 + timedelta(hours=1)  # the source corrected the order
    with transaction(sessions) as s:
        again = produce(s, "hotline", rules=rules, now=T0)
        assert (again.records, again.duplicates, again.events) == (1, 1, 0)


def test_silent_homes_and_spikes_in_utility_readings(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    readings = Table(
        "utility_reading",
        MetaData(),
        Column("account", String(40)),
        Column("kind", String(10)),
        Column("reading_date", Date),
        Column("usage", Float),
        Column("address_normalized", String(300)),
        Column("source_file", String(200)),
    )  # the utility adapter's table (canonical_model.utility); created here if not migrated
    with sessions.kw["bind"].begin() as conn:
        readings.create(conn, checkfirst=True)
        rows = []
        first = date(2026, 2, 1)
        for k in range(30):
            day = first + timedelta(days=k)
            silent = k >= 27  # the last three days
            rows += [
                {
                    "account": "W-A1",
                    "kind": "water",
                    "reading_date": day,
                    "usage": 0.0 if silent else 0.2,
                    "address_normalized": "A1",
                    "source_file": "t.csv",
                },
                {
                    "account": "P-A1",
                    "kind": "power",
                    "reading_date": day,
                    "usage": 0.0 if silent else 3.0,
                    "address_normalized": "A1",
                    "source_file": "t.csv",
                },
                {
                    "account": "W-A2",
                    "kind": "water",
                    "reading_date": day,
                    "usage": 0.0 if silent else (9.0 if k == 26 else 0.5),
                    "address_normalized": "A2",
                    "source_file": "t.csv",
                },
                {
                    "account": "W-A9",
                    "kind": "water",
                    "reading_date": day,
                    "usage": 0.0,
                    "address_normalized": "A9",
                    "source_file": "t.csv",
                },  # nobody lives there
            ]
        conn.execute(insert(readings), rows)
    with transaction(sessions) as s:
        report = produce_utility(s, rules=default_rules(), now=T0)
    assert not report.more
    with sessions() as s:
        events = {(e.type, e.report_count) for e in s.scalars(select(Event))}
        tasks = sorted(t.category for t in s.scalars(select(Task)))
    # A1: water and power silent for 3 days (1 event, 2 reports) → welfare check for the 82-year-old
    # A2: silent too, but the couple does not live alone (no task); its spike → leak check
    assert sorted(events) == [
        ("utility.no_usage", 1),
        ("utility.no_usage", 2),
        ("utility.spike", 1),
    ]
    assert tasks == ["leak_check", "welfare_check"]
    with transaction(sessions) as s:
        assert produce_utility(s, rules=default_rules(), now=T0).records == 0  # watermark


def test_small_pages_over_two_sources_take_every_record_once_in_order(
    sessions: sessionmaker[Session],
) -> None:
    """civil_affairs reads two sources: pages merge them by (updated_at, id), ties included,
    the watermark moves with each page, and a second pass finds nothing new."""
    seed(sessions)
    dibao = {"tags": ["dibao"], "facts": {"category": "低保"}, "address": "A1"}
    dead = {"status": "deceased", "address": "A2"}
    with transaction(sessions) as s:
        for i in range(7):  # interleaved sources; several share one updated_at
            at = T0 + timedelta(minutes=i // 2)
            for record in (
                _record("civil_affairs", "recipients", f"CA{i}", dibao),
                _record("hukou", "persons", f"HK{i}", dead),  # no person: no dedup join
            ):
                record.updated_at = at
                s.add(record)
    rules = default_rules()
    pages: list[int] = []
    more = True
    while more:
        with transaction(sessions) as s:
            report = produce(s, "civil_affairs", rules=rules, now=T0, limit=3)
        pages.append(report.records)
        more = report.more
    assert pages == [3, 3, 3, 3, 2]
    with sessions() as s:
        refs = sorted(str(r) for r in s.scalars(select(Event.source_ref)))
        grids = {e.source_ref: e.grid_code for e in s.scalars(select(Event))}
    assert refs == sorted(
        [f"recipients/CA{i}/dibao" for i in range(7)] + [f"persons/HK{i}/death" for i in range(7)]
    )
    assert grids["recipients/CA0/dibao"] == BUILDING1  # A1, looked up once per page
    assert grids["persons/HK6/death"] == BUILDING2
    with transaction(sessions) as s:
        again = produce(s, "civil_affairs", rules=rules, now=T0, limit=3)
    assert (again.records, again.events, again.more) == (0, 0, False)
