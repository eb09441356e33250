"""The hotline's side of the Kafka conversation: it publishes work orders and reads replies.

``HotlineFeed`` produces orders (keyed by order number, so one order's updates stay in one
partition) and, on request, poison messages. ``ReplyInbox`` reads what gridhub sent back on
the reply topic and de-duplicates it by idempotency key, as the hotline's own intake does:
a reply re-sent after a lost acknowledgement must count once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from simulators.hotline.orders import WorkOrder, poison

__all__ = ["IDEMPOTENCY_HEADER", "PARTITIONS", "REPLY_TOPIC", "TOPIC", "HotlineFeed", "ReplyInbox"]

TOPIC = "hotline.workorders"
REPLY_TOPIC = "hotline.replies"
PARTITIONS = 4
IDEMPOTENCY_HEADER = "idempotency-key"


class HotlineFeed:
    """A producer of work orders on ``topic``; a context manager that flushes on exit."""

    def __init__(self, bootstrap_servers: str, topic: str = TOPIC) -> None:
        self.topic = topic
        # gzip keeps batches small: kafka-python computes CRC32C in pure Python unless the
        # optional crc32c package is installed, and the CRC covers the compressed bytes.
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=20,
            batch_size=512 * 1024,
            max_request_size=4 * 1024 * 1024,
            compression_type="gzip",
            client_id="hotline-simulator",
        )
        self.sent = 0

    def publish(self, orders: Iterable[WorkOrder]) -> int:
        """Send each order as UTF-8 JSON; returns how many were sent."""
        count = 0
        for order in orders:
            value = json.dumps(order.message(), ensure_ascii=False).encode("utf-8")
            self._producer.send(self.topic, key=order.order_no.encode(), value=value)
            count += 1
        self.sent += count
        return count

    def publish_raw(self, value: bytes, *, key: str | None = None) -> None:
        self._producer.send(self.topic, key=key.encode() if key else None, value=value)
        self.sent += 1

    def publish_poison(self, kind: str, *, key: str | None = None) -> bytes:
        """Send one bad message of ``kind`` (see ``POISON_KINDS``); returns its bytes."""
        value = poison(kind)
        self.publish_raw(value, key=key)
        return value

    def flush(self, timeout: float = 60.0) -> None:
        self._producer.flush(timeout)

    def close(self) -> None:
        self._producer.close(timeout=10)

    def __enter__(self) -> HotlineFeed:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.flush()
        self.close()


class ReplyInbox:
    """Everything gridhub sent on the reply topic, read from the beginning.

    ``replies`` maps idempotency key → the first reply with that key; ``received`` counts
    every message, duplicates included, so a test can tell "sent twice, counted once".
    """

    def __init__(self, bootstrap_servers: str, topic: str = REPLY_TOPIC) -> None:
        self.topic = topic
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            enable_auto_commit=False,
            group_id=None,
            fetch_max_wait_ms=100,
            client_id="hotline-reply-inbox",
        )
        partitions = self._consumer.partitions_for_topic(topic) or set()
        if not partitions:
            self._consumer.close()
            raise LookupError(f"reply topic {topic} does not exist")
        self._tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        self._consumer.assign(self._tps)
        self._consumer.seek_to_beginning(*self._tps)
        self.replies: dict[str, dict[str, Any]] = {}
        self.received = 0
        self.malformed = 0

    def drain(self, *, expect: int | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """Read until ``expect`` distinct replies are in (or, without it, until idle)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = self._consumer.poll(timeout_ms=300)
            for records in batch.values():
                for record in records:
                    self._take(record.value, dict(record.headers or []))
            if expect is not None and len(self.replies) >= expect:
                break
            if expect is None and not batch and self._caught_up():
                break
        return self.replies

    def by_order(self, order_no: str) -> list[dict[str, Any]]:
        return [r for r in self.replies.values() if r.get("order_no") == order_no]

    def _take(self, value: bytes, headers: dict[str, bytes]) -> None:
        self.received += 1
        try:
            reply = json.loads(value)
            key = headers.get(IDEMPOTENCY_HEADER, b"").decode() or reply["idempotency_key"]
        except (ValueError, KeyError, TypeError):
            self.malformed += 1
            return
        self.replies.setdefault(str(key), reply)

    def _caught_up(self) -> bool:
        return all(
            (hw := self._consumer.highwater(tp)) is not None and self._consumer.position(tp) >= hw
            for tp in self._tps
        )

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> ReplyInbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
