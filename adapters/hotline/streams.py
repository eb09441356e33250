"""The hotline's one stream: work orders, read from Kafka by partition offsets.

The cursor is ``{"<partition>": next_offset}`` and is stored by the engine in the same
transaction as the records, so the Kafka offsets need no commit of their own: after a crash
the consumer seeks to exactly what was stored and at most the checkpoint in flight is read
again (and recognised by its content hash).

Two ways to run it:

* bounded (``run_sync("hotline")``, the DAG): read up to each partition's end as the first
  fetch response reported it, then stop — new orders arriving meanwhile wait for the next
  run, so the sync always terminates;
* long-lived (``gridhub consume hotline``): read until asked to stop, yielding ``Flush``
  whenever a poll comes back empty (or ``flush_interval_s`` has passed) so that a quiet
  stream commits what it holds instead of waiting for a full checkpoint.

Mapping an order (the caller's name folded, its pinyin, the address parsed) costs more CPU
than reading it from Kafka, and about as much as storing it: with ``map_workers`` a worker
process maps the orders of one poll, in pieces, while this process stores the piece before
and polls on (``parallel.Ahead``). The worker also encodes each order for the store: this
process, which reads Kafka and writes the store, is the one that bounds the rate. Orders
still reach the engine one by one, in offset order, stored exactly as inline mapping stores
them; a poll too small to be worth a process (a quiet stream) is mapped inline.

Each message reaches the engine as the bytes that arrived: the exchange log's digest covers
exactly what the hotline sent, quarantine keeps a poison message byte for byte (not UTF-8,
not JSON, not an object, wrong schema), and no JSON is re-encoded just to be hashed. Its
offset advances like any other, so a partition never sticks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

import msgspec
from kafka.errors import KafkaError

from adapters.contract import Extracted, Flush, Mapped, SourceUnavailable, Stream
from adapters.hotline.client import HotlineClient
from adapters.hotline.fastpath import map_decoded
from adapters.hotline.mapping import map_work_order, reject_unparsed
from adapters.parallel import Ahead, PageMapper, mapped

log = logging.getLogger(__name__)

StopCheck = Callable[[], bool]

# msgspec parses UTF-8 bytes directly, in under half the CPU of ``json.loads`` of the decoded
# text, and to the same dict. It refuses what JSON itself does not allow but Python's parser
# takes (NaN, Infinity, a lone surrogate escape): such a message is quarantined as not JSON
# instead of failing later in the schema or the store.
_decode = msgspec.json.decode

#: Orders per piece of a poll handed to the mapping worker.
MAP_CHUNK = 500


def _key(raw_key: bytes | None) -> str | None:
    if not raw_key:
        return None
    try:
        key = raw_key.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return key if key.isprintable() and len(key) <= 40 else None


def map_message(item: Extracted) -> Mapped:
    """One message → its record, or ``RecordRejected``; module-level, so that the mapping
    worker can run it (it travels by name)."""
    # The message key only routes the order to a partition; the order number inside is
    # the record's key. The Kafka key names a message that never parsed (quarantine).
    raw = item.raw
    if not isinstance(raw, bytes):  # a parsed order from elsewhere: the schema alone
        return map_work_order(raw)
    try:
        parsed = _decode(raw)
    # Not UTF-8, not JSON (DecodeError is a ValueError), or nested too deep.
    except (ValueError, RecursionError):
        raise reject_unparsed(raw, item.source_key) from None
    if not isinstance(parsed, dict):
        raise reject_unparsed(raw, item.source_key)
    return map_decoded(parsed)


class WorkOrdersStream(Stream):
    name: ClassVar[str] = "work_orders"
    primary_key: ClassVar[tuple[str, ...]] = ("order_no",)
    cursor_field: ClassVar[str | None] = "offsets"

    def __init__(
        self,
        client: HotlineClient,
        *,
        follow: bool = False,
        should_stop: StopCheck | None = None,
        mapper: PageMapper | None = None,
    ) -> None:
        self.client = client
        self.follow = follow
        self.should_stop: StopCheck = should_stop or (lambda: False)
        self.mapper = mapper or PageMapper(0)
        self.map_chunk = MAP_CHUNK
        self._final: dict[str, int] | None = None
        self._ahead: Ahead | None = None

    def extract(self, cursor: Mapping[str, Any]) -> Iterator[Extracted | Flush]:
        self._final = None
        ahead = self._ahead = Ahead(self.mapper, map_message, self.map_chunk, encode=True)
        try:
            yield from self._polled(cursor, ahead)
        except SourceUnavailable:
            # Orders polled before the failure are complete: let the engine store them.
            yield from ahead.drain()
            raise
        yield from ahead.drain()

    def _polled(self, cursor: Mapping[str, Any], ahead: Ahead) -> Iterator[Extracted | Flush]:
        positions = self.client.assign(cursor)
        # Partitions the cursor knows but this run does not read keep their offsets.
        offsets: dict[str, int] = {str(k): int(v) for k, v in cursor.items()}
        offsets.update({str(p): o for p, o in positions.items()})
        self._final = dict(offsets)
        targets: dict[int, int] = {}
        last_answer = time.monotonic()
        last_flush = time.monotonic()
        while not self.should_stop():
            try:
                records = self.client.poll()
            except KafkaError as exc:
                if (
                    self.follow
                    or time.monotonic() - last_answer < self.client.config.unavailable_after_s
                ):
                    log.warning("hotline poll failed (%s); retrying", type(exc).__name__)
                    time.sleep(0.5)
                    continue
                raise SourceUnavailable(
                    f"hotline Kafka: poll failed: {type(exc).__name__}"
                ) from exc
            items = []
            for record in records:
                offsets[str(record.partition)] = record.offset + 1
                items.append(self._extracted(record.value, record.key, offsets))
            if items:
                yield from ahead.put(items)
            self._final = dict(offsets)
            marks = self.client.high_watermarks()
            if records or len(marks) > len(targets):
                last_answer = time.monotonic()
            if self.follow:
                now = time.monotonic()
                if not records or now - last_flush >= self.client.config.flush_interval_s:
                    last_flush = now
                    yield from ahead.drain()  # a flush covers every order polled before it
                    yield Flush(dict(offsets))
                continue
            for p, mark in marks.items():
                targets.setdefault(p, mark)  # the end as first seen: later orders wait
            if len(targets) == len(positions) and all(
                offsets[str(p)] >= end for p, end in targets.items()
            ):
                return
            if time.monotonic() - last_answer >= self.client.config.unavailable_after_s:
                raise SourceUnavailable(
                    "hotline Kafka: no fetch response for "
                    f"{self.client.config.unavailable_after_s:.0f} s"
                )

    @staticmethod
    def _extracted(value: bytes | None, key: bytes | None, offsets: dict[str, int]) -> Extracted:
        return Extracted(raw=value or b"", cursor=dict(offsets), source_key=_key(key))

    def map(self, item: Extracted) -> Mapped:
        result = self._ahead.result(item) if self._ahead is not None else None
        return mapped(item, result, map_message)

    def final_cursor(self) -> Mapping[str, Any] | None:
        return self._final
