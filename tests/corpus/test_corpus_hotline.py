"""Malformed 12345 work-order messages: each quarantined byte for byte with its reason.

First through the stream's own ``map`` (what the engine calls for every Kafka message), then
for real: published to the Kafka-protocol broker between good orders and synced, so the
quarantine, the offsets and the orders around each poison message are all checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.contract import Extracted, RecordRejected
from adapters.engine import sync_stream
from adapters.hotline import HotlineConfig, create_adapter
from adapters.hotline.client import HotlineClient
from adapters.hotline.streams import WorkOrdersStream
from canonical_model import Quarantine, SourceRecord
from canonical_model.store import make_engine, session_factory, upgrade
from simulators.hotline import HotlineFeed
from simulators.kafka_broker import KafkaBroker
from tests.adapters.hotline.helpers import fresh_config, make_orders
from tests.corpus.corpus import Entry, grow, of_kind

HOTLINE = [pytest.param(e, id=e.file) for e in of_kind("hotline")]
_STREAM = WorkOrdersStream(HotlineClient(HotlineConfig()))  # map() never touches the broker


def _key(entry: Entry) -> str:
    return f"corpus-{Path(entry.file).stem}"


@pytest.mark.parametrize("entry", HOTLINE)
def test_each_message_is_rejected_with_its_reason(entry: Entry) -> None:
    item = Extracted(raw=entry.read(), cursor={"0": 1}, source_key=_key(entry))
    with pytest.raises(RecordRejected) as caught:
        _STREAM.map(item)
    assert caught.value.reason_code == entry.expect
    assert "张伟" not in caught.value.reason
    assert "13812345678" not in caught.value.reason


def _order(**fields: object) -> bytes:
    base = json.loads(of_kind("hotline")[-1].read())  # empty_content.json, made valid again
    base.update({"content": "楼道灯坏了", "order_no": "GD2026030199999"} | fields)
    return json.dumps(base, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    ("field", "size"),
    [("caller_name", 10_000_000), ("address", 1_000_000), ("content", 1_000_000)],
)
def test_oversized_fields_are_refused_by_the_schema(field: str, size: int) -> None:
    (seed,) = [e for e in of_kind("oversized") if e.params["field"] == field.split("_")[-1]] or [
        of_kind("oversized")[0]
    ]
    value = grow(seed.read(), size).decode("utf-8")
    item = Extracted(raw=_order(**{field: value}), cursor={"0": 1}, source_key="big")
    with pytest.raises(RecordRejected) as caught:
        _STREAM.map(item)
    assert caught.value.reason_code == "schema.invalid"
    assert f"{field}: string_too_long" in caught.value.reason
    assert len(caught.value.reason) < 500


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    with KafkaBroker(tmp_path_factory.mktemp("corpus-broker")) as running:
        yield running


@pytest.mark.integration
def test_poison_messages_between_good_orders_are_quarantined_and_nothing_is_lost(
    broker: KafkaBroker, tmp_path: Path
) -> None:
    config = fresh_config(broker)
    good = make_orders(30)
    corpus = of_kind("hotline")
    with HotlineFeed(config.bootstrap_servers, config.topic) as feed:
        feed.publish(good[:15])
        for entry in corpus:
            feed.publish_raw(entry.read(), key=_key(entry))
        feed.publish(good[15:])
        feed.flush()
    engine = make_engine(f"sqlite:///{tmp_path / 'gridhub.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    adapter = create_adapter(config)
    try:
        report = sync_stream(adapter, "work_orders", sessions, checkpoint_every=10)
    finally:
        adapter.close()
    with sessions() as s:
        stored = set(s.scalars(select(SourceRecord.source_key)))
        quarantine = {q.source_key: q for q in s.scalars(select(Quarantine))}
    assert stored == {o.order_no for o in good}
    assert report.received == len(good) + len(corpus)
    assert report.quarantined == len(corpus)
    for entry in corpus:
        # An order that parsed is keyed by its order number, a message that did not by its
        # Kafka key; either way it is kept byte for byte with the reason.
        kept = [q for q in quarantine.values() if bytes(q.raw) == entry.read()]
        assert len(kept) == 1, entry.file
        assert kept[0].reason_code == entry.expect, entry.file
    engine.dispose()
