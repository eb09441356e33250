"""Tansu with persistent storage, and the hotline feed and reply inbox over it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from simulators.district import District
from simulators.hotline import IDEMPOTENCY_HEADER, HotlineFeed, OrderGenerator, ReplyInbox
from simulators.kafka_broker import KafkaBroker

pytestmark = pytest.mark.integration


def read_all(bootstrap: str, topic: str, partitions: int) -> list[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=100)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    values: list[bytes] = []
    for _ in range(30):
        batch = consumer.poll(timeout_ms=300)
        values += [r.value for records in batch.values() for r in records]
        if not batch and all(consumer.highwater(tp) == consumer.position(tp) for tp in tps):
            break
    consumer.close()
    return values


def test_messages_survive_a_broker_restart_and_a_kill_9(tmp_path: Path) -> None:
    with KafkaBroker(tmp_path / "broker") as broker:
        broker.create_topic("orders", 2)
        broker.create_topic("orders", 2)  # creating an existing topic is not an error
        orders = list(OrderGenerator(District(persons=2_000, seed=2), seed=2).orders(300))
        with HotlineFeed(broker.bootstrap_servers, "orders") as feed:
            feed.publish(orders)
        port = broker.port
        broker.restart()
        assert broker.port == port
        assert len(read_all(broker.bootstrap_servers, "orders", 2)) == 300
        broker.kill()
        assert not broker.running
        broker.start()
        with HotlineFeed(broker.bootstrap_servers, "orders") as feed:
            feed.publish(orders[:10])
        values = read_all(broker.bootstrap_servers, "orders", 2)
    assert len(values) == 310
    assert {json.loads(v)["order_no"] for v in values} == {o.order_no for o in orders}
    # Stopped entirely (store too), the data is still on disk for the next start.
    with KafkaBroker(tmp_path / "broker") as again:
        assert len(read_all(again.bootstrap_servers, "orders", 2)) == 310


def test_the_reply_inbox_counts_each_idempotency_key_once(tmp_path: Path) -> None:
    with KafkaBroker(tmp_path / "broker") as broker:
        broker.create_topic("replies", 2)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
        for key in ("k1", "k2", "k1"):
            body = {"order_no": "GD20241019000001", "status": "completed", "idempotency_key": key}
            producer.send(
                "replies",
                key=b"GD20241019000001",
                value=json.dumps(body).encode(),
                headers=[(IDEMPOTENCY_HEADER, key.encode())],
            )
        producer.send("replies", value=b"not json")
        producer.flush()
        producer.close()
        with ReplyInbox(broker.bootstrap_servers, "replies") as inbox:
            inbox.drain()
            assert sorted(inbox.replies) == ["k1", "k2"]
            assert (inbox.received, inbox.malformed) == (4, 1)
        with pytest.raises(LookupError):
            ReplyInbox(broker.bootstrap_servers, "no-such-replies")
