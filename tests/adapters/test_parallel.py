"""The shared page-ahead pipeline (``adapters.parallel``) with a real forked worker."""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Mapping
from typing import Any

import pytest

from adapters.contract import Extracted, Mapped, RecordRejected
from adapters.engine.encoding import StoredJson, canonical_json, prepare, raw_bytes
from adapters.parallel import Ahead, PageMapper, Undecoded, map_records, mapped, pieces


def _map(item: Extracted) -> Mapped:
    """A mapper with every outcome: a record, a rejection and an unexpected error."""
    raw = item.raw
    assert not isinstance(raw, bytes)
    if raw["kind"] == "bad":
        raise RecordRejected("schema.bad", "a bad record", source_key=str(raw["key"]))
    if raw["kind"] == "bug":
        raise ZeroDivisionError("a bug in the mapper")
    return Mapped(source_key=str(raw["key"]), payload=raw, canonical={"n": raw["key"] * 2})


RAWS = [{"key": i, "kind": ("ok", "bad", "bug")[i % 3]} for i in range(9)]


def test_worker_results_come_back_in_order_and_equal_inline_results() -> None:
    pipeline = PageMapper(1, min_page=1, label="test")
    try:
        results = pipeline.results(pipeline.map_page(_map, RAWS))
    finally:
        pipeline.close()
    assert pipeline.pages == 1
    assert results == map_records(_map, RAWS)
    assert results is not None
    assert [r[0] for r in results] == ["ok", "rejected", "error"] * 3
    for raw, result in zip(RAWS, results, strict=True):
        item = Extracted(raw=raw, cursor={})
        if raw["kind"] == "ok":
            assert mapped(item, result, _map) == _map(item)
        elif raw["kind"] == "bad":
            with pytest.raises(RecordRejected) as rejected:
                mapped(item, result, _map)
            assert (rejected.value.reason_code, rejected.value.source_key) == (
                "schema.bad",
                str(raw["key"]),
            )
        else:  # the worker's error is raised again here, as the engine must see it
            with pytest.raises(ZeroDivisionError):
                mapped(item, result, _map)


def test_small_pages_and_no_workers_stay_inline() -> None:
    assert PageMapper(1, min_page=200).map_page(_map, RAWS) is None
    assert PageMapper(0, min_page=1).map_page(_map, RAWS) is None
    assert PageMapper(1).results(None) is None


def _map_bytes(item: Extracted) -> Mapped:
    """A mapper that parses its record itself, as the hotline's does with Kafka messages."""
    raw = item.raw
    assert isinstance(raw, bytes)
    parsed = json.loads(raw)
    if parsed["kind"] == "bad":
        raise RecordRejected("schema.bad", "a bad record", source_key=str(parsed["key"]))
    return Mapped(source_key=str(parsed["key"]), payload=parsed, canonical={"k": parsed["key"]})


def test_a_parsed_payload_comes_back_from_the_worker() -> None:
    raws = [json.dumps({"key": i, "kind": "bad" if i == 2 else "ok"}).encode() for i in range(4)]
    pipeline = PageMapper(1, min_page=1, label="test")
    try:
        results = pipeline.results(pipeline.map_page(_map_bytes, raws))
    finally:
        pipeline.close()
    assert results is not None
    for raw, result in zip(raws, results, strict=True):
        item = Extracted(raw=raw, cursor={})
        if result[0] == "ok":
            assert len(result) == 4  # the payload travelled back with the canonical fields
            assert mapped(item, result, _map_bytes) == _map_bytes(item)
        else:
            with pytest.raises(RecordRejected):
                mapped(item, result, _map_bytes)
    # A result without the payload (an older worker's shape) is mapped again inline.
    item = Extracted(raw=raws[0], cursor={})
    assert mapped(item, ("ok", "0", {"k": 0}), _map_bytes) == _map_bytes(item)


def _items(start: int, count: int) -> list[Extracted]:
    kinds = ("ok", "bad", "ok")
    return [
        Extracted(raw={"key": i, "kind": kinds[i % 3]}, cursor={"at": i + 1})
        for i in range(start, start + count)
    ]


def _drive(ahead: Ahead, pages: list[list[Extracted]]) -> list[tuple[int, Any]]:
    """What an engine sees: each record as handed on, mapped at once."""
    out: list[tuple[int, Any]] = []

    def take(item: Extracted) -> None:
        try:
            m = mapped(item, ahead.result(item), _map)
        except RecordRejected as r:
            out.append((item.cursor["at"], r.reason_code))
        else:
            out.append((item.cursor["at"], dict(m.canonical)))

    for page in pages:
        for item in ahead.put(page):
            take(item)
    for item in ahead.drain():
        take(item)
    return out


@pytest.mark.parametrize("workers", [0, 1])
def test_ahead_hands_on_every_record_once_in_order_with_its_own_result(workers: int) -> None:
    pages = [_items(0, 10), _items(10, 3), _items(13, 0), _items(13, 25)]
    mapper = PageMapper(workers, min_page=1, label="test")
    try:
        ahead = Ahead(mapper, _map, 4)
        assert ahead.depth == 4  # one mapping, one next, two either process may take
        got = _drive(ahead, pages)
    finally:
        mapper.close()
    inline = _drive(Ahead(PageMapper(0), _map, 4), pages)
    assert got == inline
    assert [at for at, _ in got] == list(range(1, 39))
    # Pieces of about 4 (2 of the 10, 1 of the 3, 5 of the 25); the empty page stays inline.
    assert mapper.pages == (0 if workers == 0 else 2 + 1 + 5)


def test_ahead_keeps_pieces_in_the_worker_and_a_result_only_for_its_own_record() -> None:
    mapper = PageMapper(1, min_page=1, label="test")
    try:
        ahead = Ahead(mapper, _map, 4)
        handed = list(ahead.put(_items(0, 24)))  # six pieces: two are handed on, four wait
        assert [i.cursor["at"] for i in handed] == list(range(1, 9))
        rest = ahead.drain()
        first = next(rest)
        assert ahead.result(handed[0]) is None  # not the record just handed on
        assert ahead.result(first) is None  # a result is handed out once, to one question
        second = next(rest)
        assert ahead.result(second) == ("ok", "9", {"n": 18})
        third = next(rest)
        assert ahead.result(third) == ("rejected", "schema.bad", "a bad record", "10")
        assert len(list(rest)) == 13
    finally:
        mapper.close()


@pytest.mark.parametrize(
    ("count", "size", "lengths"),
    [
        pytest.param(0, 250, [0], id="empty page: one empty piece"),
        pytest.param(250, 250, [250], id="fits"),
        pytest.param(499, 250, [499], id="no piece under the size"),
        pytest.param(1000, 250, [250, 250, 250, 250], id="even"),
        pytest.param(2706, 250, [271] * 9 + [267], id="a table in one page"),
        pytest.param(40, 7, [8, 8, 8, 8, 8], id="small pieces"),
    ],
)
def test_pieces_are_even_and_keep_order(count: int, size: int, lengths: list[int]) -> None:
    items: list[Any] = list(range(count))
    cut = pieces(items, size)
    assert [len(p) for p in cut] == lengths
    assert [i for p in cut for i in p] == items


def _encoded_in_a_worker(map_fn: Any, raws: list[Any], decode: Any = None) -> list[Any]:
    """One page mapped and encoded in a real forked worker."""
    pipeline = PageMapper(1, min_page=1, label="test")
    try:
        results = pipeline.results(pipeline.map_page(map_fn, raws, True, None, decode))
    finally:
        pipeline.close()
    assert results is not None
    return results


def test_a_record_encoded_in_the_worker_is_stored_as_the_engine_would_store_it() -> None:
    raws = [
        json.dumps({"key": 1, "kind": "ok", "name": "王伟"}, ensure_ascii=False).encode(),
        json.dumps({"key": 2, "kind": "ok", "note": "a\u0000b"}).encode(),  # NUL: refused
        json.dumps({"key": 3, "kind": "bad"}).encode(),
    ]
    results = _encoded_in_a_worker(_map_bytes, raws)
    assert [r[0] for r in results] == ["encoded", "rejected", "rejected"]
    assert results[1][1] == "encoding.nul"  # what the engine's own encoding says
    item = Extracted(raw=raws[0], cursor={})
    from_worker = mapped(item, results[0], _map_bytes)
    inline = _map_bytes(item)
    assert prepare(from_worker, raws[0], raws[0])[:4] == prepare(inline, raws[0], raws[0])[:4]
    # Payload and canonical fields read back as the JSON the store holds; nothing leaks in repr.
    assert dict(from_worker.payload) == inline.payload
    assert dict(from_worker.canonical) == inline.canonical
    assert "王伟" not in repr(from_worker.payload)
    with pytest.raises(RecordRejected) as nul:
        prepare(_map_bytes(Extracted(raw=raws[1], cursor={})), raws[1], raws[1])
    assert nul.value.reason_code == "encoding.nul"


def _map_keeping_the_row(item: Extracted) -> Mapped:
    """A 民政-like mapper: the payload is the row itself; it marks the row it was given, as
    a careless mapper might, and refuses a NUL in the canonical fields as the store does."""
    raw = item.raw
    assert isinstance(raw, dict)
    raw["seen"] = True
    return Mapped(source_key=str(raw["key"]), payload=raw, canonical={"name": raw["name"]})


def test_a_row_kept_as_the_payload_comes_back_as_its_canonical_fields_alone() -> None:
    """Only the canonical JSON travels back; the sync process stores the row as it received
    it — payload text, content hash, NUL refusal — exactly as when it maps the row itself."""
    rows = [
        {"key": 1, "name": "王伟", "note": "户主"},
        {"key": 2, "name": "李娜", "note": "a\u0000b"},  # NUL in the payload: the parent's
        {"key": 3, "name": "a\u0000b", "note": ""},  # NUL in the canonical fields: the worker's
    ]
    sent = [dict(r) for r in rows]
    results = _encoded_in_a_worker(_map_keeping_the_row, sent)
    assert [r[0] for r in results] == ["canonical", "canonical", "rejected"]
    assert results[2][1] == "encoding.nul"
    assert all(len(r) == 3 for r in results[:2])  # no payload text, no hash
    raw = dict(rows[0])
    received = raw_bytes(raw)
    from_worker = mapped(Extracted(raw=raw, cursor={}), results[0], _map_keeping_the_row)
    assert from_worker.payload is raw
    stored = prepare(from_worker, raw, received)
    # The engine's own path: the digest's encoding first, then the mapper on the same row.
    row = dict(rows[0])
    before = raw_bytes(row)
    inline = prepare(_map_keeping_the_row(Extracted(raw=row, cursor={})), row, before)
    assert stored[:4] == inline[:4]
    assert "seen" not in stored[1]  # the row as received, as the inline path stores it
    assert dict(from_worker.canonical) == {"name": "王伟"}
    raw = dict(rows[1])
    with pytest.raises(RecordRejected) as nul:
        prepare(mapped(Extracted(raw=raw, cursor={}), results[1], _map_keeping_the_row),
                raw, raw_bytes(raw))  # fmt: skip
    assert nul.value.reason_code == "encoding.nul"


_PARENT = os.getpid()


def _map_slowly_in_a_worker(item: Extracted) -> Mapped:
    """``_map``, marked with who mapped it; a worker takes 20 ms a record, the parent none."""
    if os.getpid() != _PARENT:
        time.sleep(0.02)
    m = _map(item)
    canonical = {**m.canonical, "by": os.getpid()}
    return Mapped(source_key=m.source_key, payload=m.payload, canonical=canonical)


def test_the_sync_process_maps_queued_pieces_itself_rather_than_wait() -> None:
    pages = [_items(0, 40), _items(40, 20)]
    mapper = PageMapper(1, min_page=1, label="test")
    try:
        ahead = Ahead(mapper, _map_slowly_in_a_worker, 4)
        out: list[tuple[int, Any]] = []
        for item in itertools.chain(ahead.put(pages[0]), ahead.put(pages[1]), ahead.drain()):
            result = ahead.result(item)
            try:
                m = mapped(item, result, _map_slowly_in_a_worker)
            except RecordRejected as r:
                out.append((item.cursor["at"], r.reason_code))
            else:
                out.append((item.cursor["at"], dict(m.canonical)))
    finally:
        mapper.close()
    assert ahead.stolen > 0
    by = {c.pop("by") for _, c in out if isinstance(c, dict)}
    assert _PARENT in by
    assert len(by) == 2
    inline = _drive(Ahead(PageMapper(0), _map, 4), pages)
    assert out == inline  # in order, each record with its own result, whoever mapped it


def _decode(row: Any, cursor: Mapping[str, Any]) -> Extracted:
    """Rows as a source reads them, (key, kind), into records."""
    key, kind = row
    return Extracted(raw={"key": key, "kind": kind}, cursor=cursor, source_key=str(key))


def _rows(start: int, count: int) -> list[Undecoded]:
    kinds = ("ok", "bad", "ok")
    return [Undecoded((i, kinds[i % 3]), {"at": i + 1}) for i in range(start, start + count)]


def _as_the_engine_stores(item: Extracted, result: Any) -> tuple[Any, ...]:
    """What the engine makes of a record: the digest's bytes, then what it stores (or the
    rejection's reason)."""
    received = raw_bytes(item.raw)
    try:
        stored: Any = prepare(mapped(item, result, _map), item.raw, received)[:4]
    except RecordRejected as r:
        stored = r.reason_code
    return item.cursor["at"], received, stored


@pytest.mark.parametrize("workers", [0, 1])
def test_rows_are_decoded_with_their_piece_and_stored_as_decoded_here(workers: int) -> None:
    """Rows go to the worker undecoded; what the engine is handed — the bytes it digests
    for the exchange log, the texts and hash it stores, the rejections — is what it makes
    of the same rows decoded in the sync process and mapped there."""
    pages = [_rows(0, 10), _rows(10, 25)]
    mapper = PageMapper(workers, min_page=1, label="test")
    out: list[tuple[Any, ...]] = []
    from_worker = 0
    try:
        ahead = Ahead(mapper, _map, 4, encode=True, decode=_decode)
        for item in itertools.chain(ahead.put(pages[0]), ahead.put(pages[1]), ahead.drain()):
            result = ahead.result(item)
            if result is not None and result[0] == "encoded":
                assert type(item.raw) is StoredJson  # never decoded in this process
                from_worker += 1
            else:
                assert type(item.raw) is dict  # inline, stolen or rejected: decoded here
            out.append(_as_the_engine_stores(item, result))
    finally:
        mapper.close()
    here = [_decode(u.row, u.cursor) for page in pages for u in page]
    assert out == [_as_the_engine_stores(item, None) for item in here]
    assert [at for at, _, _ in out] == list(range(1, 36))
    assert (from_worker > 0) == (workers > 0)


def test_a_row_decoded_in_the_worker_is_encoded_before_its_mapper_touches_it() -> None:
    """The payload and its hash are the row as decoded, even when the mapper changes it —
    as the engine encodes what it received before mapping; a NUL is refused alike."""
    rows = [(1, "王伟", "户主"), (2, "李娜", "a\u0000b"), (3, "a\u0000b", "")]

    def decoded(row: Any) -> dict[str, Any]:
        return {"key": row[0], "name": row[1], "note": row[2]}

    results = _encoded_in_a_worker(_map_keeping_the_row, rows, decode=_decode_named)
    assert [r[0] for r in results] == ["encoded", "rejected", "rejected"]
    assert results[1][1] == results[2][1] == "encoding.nul"
    row = decoded(rows[0])
    received = raw_bytes(row)  # the engine's order: the digest's encoding, then the mapper
    inline = prepare(_map_keeping_the_row(Extracted(raw=row, cursor={})), row, received)
    assert results[0][1:] == inline[:4]
    assert "seen" not in results[0][2]
    assert results[0][2].encode() == canonical_json(decoded(rows[0]))


def _decode_named(row: Any, cursor: Mapping[str, Any]) -> Extracted:
    return Extracted(raw={"key": row[0], "name": row[1], "note": row[2]}, cursor=cursor)


def test_rows_put_into_an_ahead_without_a_decoder_are_refused() -> None:
    """A stream that hands over rows must say how to decode them; mapping a row as if it
    were a record would store the row's tuple."""
    with pytest.raises(TypeError, match="no decode"):
        list(Ahead(PageMapper(0), _map, 4).put(_rows(0, 3)))


def test_an_ahead_that_decodes_rows_must_also_encode_them() -> None:
    """Decoded in the worker but not encoded, a row would come back without its payload and
    be decoded a second time here."""
    with pytest.raises(ValueError, match="must encode"):
        Ahead(PageMapper(0), _map, 4, decode=_decode)
