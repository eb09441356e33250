"""Work orders from a real Tansu broker into the canonical store, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.contract import SyncReport
from adapters.engine import sync_adapter, sync_stream
from adapters.hotline import HotlineAdapter, HotlineConfig, create_adapter
from canonical_model import SourceRecord
from canonical_model.store import make_engine, session_factory
from canonical_model.values import parse_phone
from simulators.hotline import HotlineFeed
from simulators.kafka_broker import KafkaBroker
from tests.adapters.hotline.helpers import (
    PARTITIONS,
    logged_records,
    make_orders,
    offsets,
    publish,
    quarantined,
    stored_keys,
)

pytestmark = pytest.mark.integration


def sync(config: HotlineConfig, sessions: sessionmaker[Session], every: int = 500) -> SyncReport:
    return sync_adapter(create_adapter(config), sessions, checkpoint_every=every)[0]


def test_orders_are_stored_and_their_offsets_commit_with_them(
    config: HotlineConfig, sessions: sessionmaker[Session]
) -> None:
    orders = make_orders(1200)
    publish(config, orders)
    seen: list[tuple[int, int]] = []

    def at_checkpoint(report: SyncReport) -> None:  # runs right after each commit
        with sessions() as s:
            rows = s.scalar(select(func.count()).select_from(SourceRecord)) or 0
        seen.append((sum(report.cursor.values()), rows))

    report = sync_stream(
        create_adapter(config),
        "work_orders",
        sessions,
        checkpoint_every=500,
        progress=at_checkpoint,
    )
    assert (report.received, report.inserted, report.quarantined) == (1200, 1200, 0)
    # At every commit the stored offsets account for exactly the stored records.
    assert [offset for offset, _ in seen] == [rows for _, rows in seen]
    assert seen[:2] == [(500, 500), (1000, 1000)]
    assert set(offsets(sessions)) == {str(p) for p in range(PARTITIONS)}
    assert sum(offsets(sessions).values()) == 1200
    assert sorted(stored_keys(sessions)) == sorted(o.order_no for o in orders)
    assert logged_records(sessions) == 1200

    first = orders[0]
    with sessions() as s:
        record = s.scalars(
            select(SourceRecord).where(SourceRecord.source_key == first.order_no)
        ).one()
    assert record.payload == first.message()
    facts = record.canonical["facts"]
    assert facts["order_no"] == first.order_no
    assert (facts["category"], facts["urgency"], facts["content"]) == (
        first.category,
        first.urgency,
        first.content,
    )
    assert facts["deadline"] == first.deadline.astimezone(UTC).isoformat()
    hours = (first.deadline - first.dispatched_at).total_seconds() / 3600
    assert facts["sla_hours"] == round(hours, 2)
    if first.caller_phone:
        assert record.canonical["phone"] == parse_phone(first.caller_phone).number
    assert not {"person_key", "incident"} & set(record.payload)


def test_a_rerun_reads_nothing_new_and_later_orders_resume(
    config: HotlineConfig, sqlite_url: str
) -> None:
    sessions = session_factory(make_engine(sqlite_url))
    publish(config, make_orders(300))
    assert sync(config, sessions).received == 300
    again = sync(config, sessions)
    assert (again.received, again.checkpoints) == (0, 0)
    publish(config, make_orders(40, day=200))
    more = sync(config, sessions)
    assert (more.received, more.inserted) == (40, 40)
    assert sum(offsets(sessions).values()) == 340


def test_poison_messages_are_quarantined_byte_for_byte_and_offsets_advance(
    config: HotlineConfig, sqlite_url: str
) -> None:
    sessions = session_factory(make_engine(sqlite_url))
    good = make_orders(20)
    with HotlineFeed(config.bootstrap_servers, config.topic) as feed:
        feed.publish(good[:10])
        sent = {
            kind: feed.publish_poison(kind, key=f"GD2024101900000{i}")
            for i, kind in enumerate(("not_json", "wrong_schema", "bad_encoding", "not_object"))
        }
        feed.publish_raw(b"", key=None)  # an empty message (a tombstone) is poison too
        feed.publish(good[10:])
    report = sync(config, sessions, every=4)
    assert (report.received, report.inserted, report.quarantined) == (25, 20, 5)
    rows = {q.source_key: q for q in quarantined(sessions)}
    assert {k: rows[f"GD2024101900000{i}"].raw for i, k in enumerate(sent)} == sent
    assert {k: rows[f"GD2024101900000{i}"].reason_code for i, k in enumerate(sent)} == {
        "not_json": "schema.not_json_object",
        "wrong_schema": "schema.invalid",
        "bad_encoding": "encoding.not_utf8",
        "not_object": "schema.not_json_object",
    }
    reason = rows["GD20241019000001"].reason
    assert "content" in reason
    assert not any(value in reason for value in ("123", "明天", "很急"))
    assert sum(offsets(sessions).values()) == 25  # poison does not hold a partition back
    assert sync(config, sessions).received == 0


def test_a_redelivered_order_is_unchanged_and_a_changed_one_is_versioned(
    config: HotlineConfig, sqlite_url: str
) -> None:
    sessions = session_factory(make_engine(sqlite_url))
    orders = make_orders(30)
    publish(config, orders)
    sync(config, sessions)
    target = next(o for o in orders if o.urgency == "一般")
    escalated = target.message() | {"urgency": "紧急"}
    with HotlineFeed(config.bootstrap_servers, config.topic) as feed:
        feed.publish(orders[:5])  # at-least-once: the hotline sends some again
        feed.publish_raw(json.dumps(escalated, ensure_ascii=False).encode(), key=target.order_no)
    report = sync(config, sessions)
    assert (report.received, report.updated, report.unchanged) == (6, 1, 5)
    assert len(stored_keys(sessions)) == 30
    with sessions() as s:
        record = s.scalars(
            select(SourceRecord).where(SourceRecord.source_key == target.order_no)
        ).one()
    assert (record.version, record.canonical["facts"]["urgency"]) == (2, "紧急")


def test_a_bounded_sync_stops_at_the_end_it_found_while_orders_keep_arriving(
    config: HotlineConfig, sqlite_url: str
) -> None:
    sessions = session_factory(make_engine(sqlite_url))
    orders = make_orders(900)
    publish(config, orders[:600])
    stop = threading.Event()
    published = [600]

    def trickle() -> None:
        with HotlineFeed(config.bootstrap_servers, config.topic) as feed:
            for order in orders[600:]:
                if stop.is_set():
                    break
                feed.publish([order])
                feed.flush()
                published[0] += 1
                time.sleep(0.01)

    producer = threading.Thread(target=trickle)
    producer.start()
    try:
        first = sync(config, sessions, every=100)  # must return while orders keep coming
    finally:
        stop.set()
        producer.join()
    assert 600 <= first.received < published[0]
    rest = sync(config, sessions)
    assert first.received + rest.received == published[0] == len(stored_keys(sessions))


def test_the_long_lived_consumer_commits_on_idle_and_stops_cleanly(
    config: HotlineConfig, sqlite_url: str
) -> None:
    sessions = session_factory(make_engine(sqlite_url))
    stop = threading.Event()
    adapter = HotlineAdapter(config, follow=True, should_stop=stop.is_set)
    reports: list[SyncReport] = []
    consumer = threading.Thread(
        target=lambda: reports.append(
            sync_stream(adapter, "work_orders", sessions, checkpoint_every=10_000)
        )
    )
    consumer.start()
    try:
        orders = make_orders(60)
        publish(config, orders[:35])
        # Far below the checkpoint size: only the idle Flush can have committed these.
        assert _eventually(lambda: len(stored_keys(sessions)) == 35)
        publish(config, orders[35:])
        assert _eventually(lambda: len(stored_keys(sessions)) == 60)
    finally:
        stop.set()
        consumer.join(timeout=30)
        adapter.close()
    assert not consumer.is_alive()
    assert reports[0].received == 60
    assert sum(offsets(sessions).values()) == 60


def _eventually(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_check_connection_reports_ok_unreachable_and_a_missing_topic(
    config: HotlineConfig, broker: KafkaBroker
) -> None:
    assert create_adapter(config).check_connection() == (True, None)
    ok, error = create_adapter(
        HotlineConfig(bootstrap_servers="127.0.0.1:9", connect_timeout_s=1)
    ).check_connection()
    assert ok is False
    assert "127.0.0.1:9" in str(error)
    ok, error = create_adapter(
        config.model_copy(update={"topic": "hotline.no-such-topic"})
    ).check_connection()
    assert ok is False
    assert "no-such-topic" in str(error)
