"""Mapping pages in a worker process while the engine stores the page before.

Mapping a person (name folding, pinyin, address parsing) costs about as much CPU as storing
it, and both are pure Python: in one process they add up, in two they overlap. A worker maps
page N+1 while the sync process writes page N. Results come back in page order, one per
record, so the engine sees exactly what inline mapping would give it; a record whose mapper
raised something other than ``RecordRejected`` is mapped again inline, so the engine sees the
real exception.

Workers are forked (they inherit the loaded value tables instead of importing them again)
and fed through pipes by the sync's own thread (``adapters.forked``); they leave as soon as
their parent is gone, so a sync killed with ``kill -9`` leaves no orphan. Where forking is
not possible, or a worker dies (say by OOM), pages are mapped inline. Every adapter that
maps ahead (户籍, 民政, the hotline, health) uses this one pipeline.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from adapters.contract import Extracted, Mapped, RecordRejected
from adapters.engine.encoding import StoredJson, encode_canonical, encode_mapped, raw_bytes
from adapters.forked import ForkedWorkers, WorkerFailed

__all__ = [
    "Ahead",
    "Decoder",
    "PageMapper",
    "Result",
    "StoredJson",
    "Undecoded",
    "map_records",
    "mapped",
    "pieces",
]

log = logging.getLogger(__name__)

#: Per record: ("ok", source_key, canonical), ("ok", source_key, canonical, payload) when the
#: mapper parsed the payload itself (the record arrived as bytes), ("encoded", source_key,
#: payload JSON, content hash, canonical JSON) when the worker encoded it too, ("canonical",
#: source_key, canonical JSON) when it encoded a record whose payload is the record itself,
#: ("rejected", reason_code, reason, source_key), or ("error",) when the mapper raised —
#: ``mapped`` then maps that record again inline.
#: (A pipeline with its own worker function, as health's, may use other "ok" shapes.)
Result = tuple[Any, ...]
_Item = TypeVar("_Item")

MapFn = Callable[[Extracted], Mapped]
#: Turns a row as read into the record (row, cursor → ``Extracted``); module-level or a
#: ``functools.partial`` of one, as it travels to the worker with each piece.
Decoder = Callable[[Any, Mapping[str, Any]], Extracted]


@dataclass(frozen=True, slots=True)
class Undecoded:
    """A row read from the source and not decoded yet: ``Ahead`` with a ``decode`` has it
    decoded with its piece, in the worker (or here, for a piece that stays here)."""

    row: Any
    cursor: Mapping[str, Any]


def map_records(
    map_fn: MapFn,
    raws: Sequence[Any],
    encode: bool = False,
    keys: Sequence[str | None] | None = None,
    decode: Decoder | None = None,
) -> list[Result]:
    """Map one page (in the worker); never raises for a single bad record.

    ``map_fn`` must be a module-level function (it travels by name). Records are mapped
    without their cursor, which no mapper needs, and with the source keys the stream found
    outside the record (``keys``; a Kafka message's key names a message that never parsed).
    With ``encode`` each record is also encoded for the store here, so the sync process
    does not: worth it where that process, not the worker, bounds the rate (the hotline's, 民政's).
    ``raws`` are records (mappings, or bytes a mapper parses) or, with ``decode``, rows as
    read, decoded here first; encoded, such a record comes back whole ("encoded", payload
    included), so the sync process never decodes it.
    """
    out: list[Result] = []
    for i, raw in enumerate(raws):
        result: Result
        try:
            received = None
            if decode is not None:
                item = decode(raw, {})
                raw = item.raw
                if encode:  # before the mapper, which may touch the row: as the engine does
                    received = raw_bytes(raw)
            else:
                item = Extracted(raw=raw, cursor={}, source_key=keys[i] if keys else None)
            m = map_fn(item)
            if received is not None:
                result = ("encoded", m.source_key, *encode_mapped(m, raw, received))
            elif encode and m.payload is raw and not isinstance(raw, bytes):
                # The payload is the record as received, which the sync process encodes
                # anyway for its exchange-log digest: only the canonical fields travel back.
                result = ("canonical", m.source_key, encode_canonical(m.canonical))
            elif encode:
                result = ("encoded", m.source_key, *encode_mapped(m, raw, raw_bytes(raw)))
            elif isinstance(raw, bytes):  # parsed by the mapper: the payload travels back too
                result = ("ok", m.source_key, dict(m.canonical), dict(m.payload))
            else:
                result = ("ok", m.source_key, dict(m.canonical))
        except RecordRejected as r:
            result = ("rejected", r.reason_code, r.reason, r.source_key)
        except Exception:
            result = ("error",)
        out.append(result)
    return out


def mapped(item: Extracted, result: Result | None, map_fn: MapFn) -> Mapped:
    """The ``Mapped`` of ``item`` from its ``map_records`` result, or mapped inline when
    there is none (no worker, or the worker's mapper raised: the real error is raised here)."""
    if result is None or result[0] == "error":
        return map_fn(item)
    kind = result[0]
    if kind == "encoded":
        payload, digest, canonical = result[2], result[3], result[4]
        raw = item.raw  # the payload itself where the worker also decoded the record
        return Mapped(
            source_key=result[1],
            payload=raw if type(raw) is StoredJson else StoredJson(payload),
            canonical=StoredJson(canonical),
            encoded=(payload, digest, canonical),
        )
    if kind == "canonical" and not isinstance(item.raw, bytes):  # bytes: never this kind
        return Mapped(
            source_key=result[1],
            payload=item.raw,
            canonical=StoredJson(result[2]),
            canonical_text=result[2],
        )
    if kind == "rejected":
        raise RecordRejected(result[1], result[2], source_key=result[3])
    if len(result) == 4:
        return Mapped(source_key=result[1], payload=result[3], canonical=result[2])
    raw = item.raw
    if isinstance(raw, bytes):  # a result without the payload the mapper parsed from it
        return map_fn(item)
    return Mapped(source_key=result[1], payload=raw, canonical=result[2])


class PageMapper:
    """A one-page-ahead pipeline; ``run`` returns None when a page stays inline."""

    def __init__(self, workers: int, *, min_page: int = 200, label: str = "mapping") -> None:
        self.workers = workers
        self.min_page = min_page
        self.label = label
        self.pages = 0  # pages handed to a worker
        self._pool: ForkedWorkers | None = None
        self._broken = workers < 1 or "fork" not in multiprocessing.get_all_start_methods()

    def run(
        self, size: int, fn: Callable[..., list[Result]], *args: Any
    ) -> Future[list[Result]] | None:
        """``fn(*args)`` in a worker for a page of ``size`` records; None: handle it inline.

        A small page (an incremental sync of a few changes) is not worth a process.
        """
        if self._broken or size < self.min_page:
            return None
        try:
            if self._pool is None:
                self._pool = ForkedWorkers(self.workers)
            future = self._pool.submit(fn, *args)
        except (WorkerFailed, OSError) as exc:
            self._give_up(exc)
            return None
        self.pages += 1
        return future

    def map_page(
        self,
        map_fn: MapFn,
        raws: Sequence[Any],
        encode: bool = False,
        keys: Sequence[str | None] | None = None,
        decode: Decoder | None = None,
    ) -> Future[list[Result]] | None:
        """``map_records(…)`` of the page in a worker, or None to map the page inline."""
        return self.run(len(raws), map_records, map_fn, list(raws), encode, keys, decode)

    def results(self, future: Future[list[Result]] | None) -> list[Result] | None:
        """The page's results, or None to handle it inline (the worker died, say by OOM)."""
        if future is None:
            return None
        try:
            return future.result()
        except (WorkerFailed, OSError) as exc:
            self._give_up(exc)
            return None

    def _give_up(self, exc: BaseException) -> None:
        if not self._broken:  # once: the pieces still queued fail the same way after it
            log.warning(
                "%s worker unavailable (%s); mapping inline", self.label, type(exc).__name__
            )
        self._broken = True
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def pieces(items: list[_Item], size: int) -> list[list[_Item]]:
    """``items`` cut evenly into pieces of at least ``size`` (fewer than ``2 * size``): no
    small remainder, which would be mapped inline while the worker idles."""
    count = max(1, len(items) // size)
    if count == 1:
        return [items]
    step = -(-len(items) // count)
    return [items[i : i + step] for i in range(0, len(items), step)]


class Ahead:
    """Records mapped ahead in pieces and handed back in order, each with its result.

    A stream ``put``s each page it reads: the page goes to the worker in pieces of about
    ``piece`` records, and the records of a piece are handed on to the engine once ``depth``
    pieces are queued behind it (or at once when a piece stays inline), so the worker keeps
    mapping while this process stores and reads on. Pieces rather than whole pages, because
    one page can hold a whole table or a whole poll: handed over whole, the engine would
    wait for all of it and the two processes would take turns. ``drain`` hands on the rest —
    at the end, before a flush, and before a failure is raised, so that everything read is
    stored. The stream's ``map`` asks ``result(item)`` for the record just handed on. With
    ``encode`` the worker also encodes each record for the store (``map_records``).

    **Decoding.** With ``decode`` a stream puts rows as read (``Undecoded``) and the worker
    decodes each with its piece; the record handed on is then built from what the worker
    encoded (its payload a ``StoredJson``), so the sync process neither decodes nor encodes
    it. A row the worker did not encode (it stayed here, or was rejected) is decoded here.
    Decoding then moves with the mapping, both ways: into the worker, and back into this
    process with a stolen piece.

    **Stealing.** When the record whose turn has come is not mapped yet, this process does
    not wait: it takes the newest piece the worker has not started (a cancelled future
    never reaches the worker) and maps it itself, from the back of the queue while the
    worker works from the front. Whichever process is faster takes more, so neither idles
    while the other still has pieces queued — at the end of a stream as in the middle of
    it. ``depth`` leaves pieces for that: per worker one it is mapping and one it starts
    next, and two more that either process may take.
    """

    def __init__(
        self,
        mapper: PageMapper,
        map_fn: MapFn,
        piece: int,
        *,
        encode: bool = False,
        decode: Decoder | None = None,
    ) -> None:
        if decode is not None and not encode:
            # The worker would decode each row, send back only what it mapped, and this
            # process would decode the row again to have its payload: twice the work.
            raise ValueError("an Ahead that decodes must encode too")
        self.mapper = mapper
        self.map_fn = map_fn
        self.encode = encode
        self.decode = decode
        # A piece under the mapper's minimum would stay inline: pieces are never smaller.
        self.size = max(piece, mapper.min_page)
        self.depth = 2 * max(1, mapper.workers) + 2
        self.stolen = 0  # pieces this process mapped itself while the worker was busy
        self._queue: deque[tuple[list[Any], Future[list[Result]] | None]] = deque()
        self._current: tuple[Extracted, Result] | None = None

    def queue(self, items: list[Extracted] | list[Undecoded]) -> None:
        """Send a page's pieces to the worker without handing anything on (a prefetch)."""
        for piece in pieces(list(items), self.size):
            raws, keys, decode = self._inputs(piece)
            future = self.mapper.map_page(self.map_fn, raws, self.encode, keys, decode)
            self._queue.append((piece, future))

    def abandon(self) -> None:
        """Drop what is queued (a prefetch nobody will use), taking back what the worker has
        not started."""
        for _, future in self._queue:
            if future is not None:
                future.cancel()
        self._queue.clear()

    def put(self, items: list[Extracted] | list[Undecoded]) -> Iterator[Extracted]:
        """Queue a page; yields the records whose turn has come."""
        self.queue(items)
        queue = self._queue
        while queue and (len(queue) > self.depth or queue[0][1] is None):
            yield from self._handed(*queue.popleft())

    def drain(self) -> Iterator[Extracted]:
        """Every queued record, in order."""
        while self._queue:
            yield from self._handed(*self._queue.popleft())

    def result(self, item: Extracted) -> Result | None:
        """The worker's result for ``item`` if it is the record just handed on, else None."""
        current, self._current = self._current, None
        return current[1] if current is not None and current[0] is item else None

    def _steal(self) -> bool:
        """Map the newest queued piece the worker has not started here; False: none left."""
        queue = self._queue
        for at in range(len(queue) - 1, -1, -1):
            piece, future = queue[at]
            if future is None or future.done():
                continue  # inline, or mapped already: nothing to take
            if not future.cancel():
                continue  # a worker has started it (with several, not always in order)
            raws, keys, decode = self._inputs(piece)
            taken: Future[list[Result]] = Future()
            taken.set_result(map_records(self.map_fn, raws, self.encode, keys, decode))
            queue[at] = (piece, taken)
            self.stolen += 1
            return True
        return False

    def _inputs(
        self, piece: list[Any]
    ) -> tuple[list[Any], list[str | None] | None, Decoder | None]:
        """What a piece is mapped from, in the worker or here: its raws and the source keys
        the stream found outside them — or its rows (``Undecoded``), whose keys are inside
        them, and the decoder that reads them."""
        if not piece or type(piece[0]) is not Undecoded:
            return [item.raw for item in piece], [item.source_key for item in piece], None
        if self.decode is None:
            raise TypeError("rows put into an Ahead that has no decode")
        return [u.row for u in piece], None, self.decode

    def _handed(self, items: list[Any], future: Future[list[Result]] | None) -> Iterator[Extracted]:
        while future is not None and not future.done() and self._steal():
            pass
        results = self.mapper.results(future)
        for i, item in enumerate(items):
            result = results[i] if results is not None else None
            if type(item) is Undecoded:
                item = self._decoded(item, result)
            self._current = (item, result) if result is not None else None
            yield item
        self._current = None

    def _decoded(self, row: Undecoded, result: Result | None) -> Extracted:
        """The record of a row: as the worker encoded it, or decoded here (the piece stayed
        here, or the worker rejected the record or failed on it)."""
        if result is not None and result[0] == "encoded":
            return Extracted(raw=StoredJson(result[2]), cursor=row.cursor, source_key=result[1])
        assert self.decode is not None  # a piece of rows got here through ``_inputs``
        return self.decode(row.row, row.cursor)
