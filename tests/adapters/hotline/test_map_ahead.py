"""Orders mapped (and encoded) ahead in a worker are stored exactly as inline mapping stores
them."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from adapters.contract import Extracted, Flush, RecordRejected
from adapters.engine import sync_stream
from adapters.engine.encoding import prepare
from adapters.hotline import HotlineAdapter, HotlineConfig
from simulators.hotline import HotlineFeed
from simulators.kafka_broker import KafkaBroker
from tests.adapters.hotline.helpers import fresh_config, make_orders, offsets, stored_keys

pytestmark = pytest.mark.integration

POISON = ("not_json", "wrong_schema", "bad_encoding", "not_object")


def _publish_mixed(config: HotlineConfig) -> None:
    """600 good orders with every kind of poison among them, and a broken deadline."""
    orders = make_orders(600)
    late = dataclasses.replace(orders[300], deadline=orders[300].dispatched_at)
    with HotlineFeed(config.bootstrap_servers, config.topic) as feed:
        feed.publish(orders[:150])
        for i, kind in enumerate(POISON):
            feed.publish_poison(kind, key=f"GD2024101900000{i}")
        feed.publish([*orders[150:300], late, *orders[301:]])
        feed.publish_raw(b"", key=None)


def _outcomes(config: HotlineConfig, workers: int, chunk: int) -> tuple[list[Any], int]:
    """Every message as the engine sees it: extracted, then mapped at once."""
    adapter = HotlineAdapter(config.model_copy(update={"map_workers": workers}))
    adapter.mapper.min_page = 1  # every poll to the worker
    stream = adapter.stream("work_orders")
    stream.map_chunk = chunk  # type: ignore[attr-defined]
    out: list[Any] = []
    try:
        for item in stream.extract({}):
            assert isinstance(item, Extracted)
            try:
                m = stream.map(item)
            except RecordRejected as r:
                out.append((dict(item.cursor), "rejected", r.reason_code, r.source_key))
            else:  # what the store gets: key, payload JSON, content hash, canonical JSON
                assert isinstance(item.raw, bytes)
                out.append((dict(item.cursor), *prepare(m, item.raw, item.raw)[:4]))
        pages = adapter.mapper.pages
    finally:
        adapter.close()
    return out, pages


def test_worker_mapping_equals_inline_mapping(config: HotlineConfig) -> None:
    _publish_mixed(config)
    inline, inline_pages = _outcomes(config, 0, 250)
    ahead, ahead_pages = _outcomes(config, 1, 250)
    pieces, piece_pages = _outcomes(config, 1, 7)
    assert inline_pages == 0
    assert ahead_pages >= 1
    assert piece_pages > 3 * ahead_pages  # polls went over in many small pieces
    assert ahead == inline
    assert pieces == inline
    assert len(inline) == 605
    # Offsets only grow: the records come back in the order they were polled.
    for partition in {p for o in inline for p in o[0]}:
        seen = [o[0][partition] for o in inline]
        assert seen == sorted(seen)
    rejected = sorted(o[2] for o in inline if o[1] == "rejected")
    assert rejected == sorted(
        [
            "deadline.before_dispatch",
            "encoding.not_utf8",
            "schema.invalid",
            "schema.not_json_object",
            "schema.not_json_object",
            "schema.not_json_object",
        ]
    )


def test_a_sync_through_the_worker_stores_every_order_once(
    config: HotlineConfig, sessions: sessionmaker[Session]
) -> None:
    _publish_mixed(config)
    adapter = HotlineAdapter(config)
    adapter.mapper.min_page = 1
    report = sync_stream(adapter, "work_orders", sessions, checkpoint_every=97)
    adapter.close()
    assert adapter.mapper.pages >= 1
    assert (report.received, report.inserted, report.quarantined) == (605, 599, 6)
    assert len(set(stored_keys(sessions))) == 599
    assert sum(offsets(sessions).values()) == 605


def test_a_flush_of_the_long_lived_consumer_covers_every_order_before_it(
    broker: KafkaBroker,
) -> None:
    """A flush commits its cursor: no order at or below it may still be in the worker."""
    config = fresh_config(broker, map_workers=1)
    stop = threading.Event()
    adapter = HotlineAdapter(config, follow=True, should_stop=stop.is_set)
    adapter.mapper.min_page = 1
    stream = adapter.stream("work_orders")
    stream.map_chunk = 5  # type: ignore[attr-defined]
    orders = make_orders(400)
    seen: dict[str, int] = {}
    flushes = 0
    publisher = threading.Thread(
        target=lambda: [_publish(config, orders[i : i + 100]) for i in range(0, len(orders), 100)]
    )
    publisher.start()
    try:
        for item in stream.extract({}):
            if isinstance(item, Flush):
                flushes += 1
                assert {p: o for p, o in item.cursor.items() if o} == {
                    p: o for p, o in seen.items() if o
                }
                if sum(seen.values()) == len(orders):
                    stop.set()
                continue
            stream.map(item)
            for p, o in item.cursor.items():
                seen[p] = max(seen.get(p, 0), int(o))
    finally:
        stop.set()
        publisher.join(timeout=30)
        adapter.close()
    assert sum(seen.values()) == len(orders)
    assert flushes >= 1
    assert adapter.mapper.pages >= 1


def _publish(config: HotlineConfig, orders: list[Any]) -> None:
    with HotlineFeed(config.bootstrap_servers, config.topic) as feed:
        feed.publish(orders)


@pytest.mark.parametrize("workers", [0, 1])
def test_an_outage_stores_every_order_polled_before_it(
    broker: KafkaBroker, sqlite_url: str, workers: int
) -> None:
    """The orders still in the worker when the broker is gone for good are stored before the
    sync stops: the stored offsets are exactly where polling had got to."""
    from adapters.contract import SourceUnavailable, SyncReport
    from canonical_model.store import make_engine, session_factory

    sessions = session_factory(make_engine(sqlite_url))
    config = fresh_config(
        broker,
        map_workers=workers,
        unavailable_after_s=2.0,
        max_poll_records=60,
        max_partition_fetch_bytes=1,  # one small batch per fetch: the topic outlives the outage
    )
    orders = make_orders(1000)
    with HotlineFeed(config.bootstrap_servers, config.topic) as feed:
        for start in range(0, 1000, 50):
            feed.publish(orders[start : start + 50])
            feed.flush()
    adapter = HotlineAdapter(config)
    adapter.mapper.min_page = 1
    stream = adapter.stream("work_orders")
    stream.map_chunk = 7  # type: ignore[attr-defined]

    def outage(report: SyncReport) -> None:
        if broker.running:
            broker.stop_broker()

    try:
        with pytest.raises(SourceUnavailable):
            sync_stream(adapter, stream, sessions, checkpoint_every=100, progress=outage)
    finally:
        broker.start()
        adapter.close()
    polled = {p: o for p, o in (stream.final_cursor() or {}).items() if o}
    assert {p: o for p, o in offsets(sessions).items() if o} == polled
    stored = len(stored_keys(sessions))
    assert 100 < stored < 1000
    assert stored == sum(polled.values())
    assert adapter.mapper.pages >= (1 if workers else 0)
