"""The one place gridhub talks Kafka to the hotline (kafka-python).

The consumer is assigned its partitions by hand and never commits to Kafka: gridhub's own
database holds the offsets, in the same transaction as the records they produced, so a
consumer group's committed offsets could only ever disagree with the truth. Nothing here
logs message contents — they carry callers' names and phone numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from adapters.contract import SourceUnavailable
from adapters.hotline.config import HotlineConfig

log = logging.getLogger(__name__)


def _connection(config: HotlineConfig) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in config.bootstrap_servers.split(",") if s.strip()],
        "client_id": config.client_id,
        "request_timeout_ms": config.request_timeout_ms,
        "bootstrap_timeout_ms": int(config.connect_timeout_s * 1000),
        # Come back quickly after a broker restart instead of backing off for 30 s.
        "reconnect_backoff_max_ms": 2000,
        "security_protocol": config.security_protocol,
    }
    if config.sasl_mechanism:
        options["sasl_mechanism"] = config.sasl_mechanism
        options["sasl_plain_username"] = config.sasl_username
        options["sasl_plain_password"] = (
            config.sasl_password.get_secret_value() if config.sasl_password else None
        )
    if config.ssl_cafile:
        options["ssl_cafile"] = config.ssl_cafile
    return options


def _unavailable(what: str, exc: Exception) -> SourceUnavailable:
    return SourceUnavailable(f"hotline Kafka: {what}: {type(exc).__name__}: {exc}")


class HotlineClient:
    """A lazily connected consumer (manual assignment) and reply producer."""

    def __init__(self, config: HotlineConfig) -> None:
        self.config = config
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None
        self._tps: dict[int, TopicPartition] = {}

    # ------------------------------------------------------------------ consuming

    def consumer(self) -> KafkaConsumer:
        if self._consumer is None:
            try:
                self._consumer = KafkaConsumer(
                    **_connection(self.config),
                    group_id=None,
                    enable_auto_commit=False,
                    # A stored offset the broker no longer holds (retention ran past it)
                    # restarts at the oldest order still there: those before are gone from
                    # the source whatever we do, and kafka-python logs the reset.
                    auto_offset_reset="earliest",
                    check_crcs=self.config.check_crcs,
                    # Shorter than a poll, so every poll brings back a fetch response
                    # and with it the partition's high watermark.
                    fetch_max_wait_ms=min(100, self.config.poll_timeout_ms // 2),
                    max_partition_fetch_bytes=self.config.max_partition_fetch_bytes,
                )
            except (KafkaError, OSError) as exc:
                raise _unavailable("cannot connect", exc) from exc
        return self._consumer

    def partitions(self) -> list[int]:
        """The partitions to read: configured, or every partition the topic has."""
        if self.config.partitions:
            return sorted(self.config.partitions)
        try:
            found = self.consumer().partitions_for_topic(self.config.topic)
        except KafkaError as exc:
            raise _unavailable("cannot read topic metadata", exc) from exc
        if not found:
            raise SourceUnavailable(f"hotline Kafka: topic {self.config.topic} does not exist")
        return sorted(found)

    def assign(self, cursor: Mapping[str, Any]) -> dict[int, int]:
        """Assign every partition and seek to the stored offsets; returns the positions.

        A partition the cursor does not know yet (a new topic, a partition added later)
        starts at its earliest offset.
        """
        consumer = self.consumer()
        partitions = self.partitions()
        self._tps = {p: TopicPartition(self.config.topic, p) for p in partitions}
        try:
            consumer.assign(list(self._tps.values()))
            for p, tp in self._tps.items():
                if str(p) in cursor:
                    consumer.seek(tp, int(cursor[str(p)]))
                else:
                    consumer.seek_to_beginning(tp)
            return {p: int(consumer.position(tp)) for p, tp in self._tps.items()}
        except KafkaError as exc:
            raise _unavailable("cannot position the consumer", exc) from exc

    def poll(self, max_records: int | None = None) -> list[ConsumerRecord]:
        """Up to ``max_records`` records, partition by partition, in offset order."""
        batch = self.consumer().poll(
            timeout_ms=self.config.poll_timeout_ms,
            max_records=max_records or self.config.max_poll_records,
            update_offsets=True,
        )
        return [record for records in batch.values() for record in records]

    def high_watermarks(self) -> dict[int, int]:
        """Each partition's end as the last fetch response reported it (unknown: absent).

        Taken from fetch responses rather than ListOffsets: Tansu 0.6 answers ListOffsets
        "latest" with a wrong offset, and the fetch high watermark is what Kafka itself
        tells a consumer about the end of the log.
        """
        consumer = self.consumer()
        marks = {p: consumer.highwater(tp) for p, tp in self._tps.items()}
        return {p: int(hw) for p, hw in marks.items() if hw is not None}

    # ------------------------------------------------------------------ producing

    def producer(self) -> KafkaProducer:
        if self._producer is None:
            try:
                self._producer = KafkaProducer(
                    **_connection(self.config),
                    acks="all",
                    enable_idempotence=True,
                    retries=5,
                    max_in_flight_requests_per_connection=1,
                    linger_ms=0,
                    max_block_ms=int(self.config.reply_timeout_s * 1000),
                    delivery_timeout_ms=max(
                        int(self.config.reply_timeout_s * 1000), self.config.request_timeout_ms
                    ),
                )
            except (KafkaError, OSError) as exc:
                raise _unavailable("cannot connect the reply producer", exc) from exc
        return self._producer

    def send(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        """Publish one reply and wait until the broker has it (acks=all)."""
        try:
            future = self.producer().send(
                self.config.reply_topic, key=key, value=value, headers=headers
            )
            future.get(timeout=self.config.reply_timeout_s)
        except SourceUnavailable:
            raise
        except (KafkaError, OSError) as exc:
            self._drop_producer()  # its state is unknown; a retry starts afresh
            raise _unavailable("reply not acknowledged", exc) from exc

    def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            producer.close(timeout=1)
        except Exception:
            # kafka-python's close() flushes first and, when the flush times out, gives up
            # before stopping its sender thread; stop it here so the unsent reply is dropped
            # (the relay retries it) instead of surfacing later from a forgotten producer.
            log.debug("closing the failed reply producer raised", exc_info=True)
            sender = getattr(producer, "_sender", None)
            if sender is not None:
                sender.force_close()
            producer._closed = True

    # ------------------------------------------------------------------ checks

    def check(self) -> tuple[bool, str | None]:
        """Reach the broker and find the topic; never raises."""
        options = {**_connection(self.config), "group_id": None, "enable_auto_commit": False}
        options["bootstrap_timeout_ms"] = min(options["bootstrap_timeout_ms"], 5000)
        try:
            consumer = KafkaConsumer(**options)
        except (KafkaConnectionError, KafkaTimeoutError):
            return False, f"no broker answers at {self.config.bootstrap_servers}"
        except (KafkaError, OSError) as exc:
            return False, f"cannot connect: {type(exc).__name__}: {exc}"
        try:
            topics = consumer.topics()
            missing = [t for t in (self.config.topic, self.config.reply_topic) if t not in topics]
            if missing:
                return False, f"topic(s) missing: {', '.join(missing)}"
            return True, None
        except KafkaError as exc:
            return False, f"cannot read metadata: {type(exc).__name__}: {exc}"
        finally:
            consumer.close()

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None
