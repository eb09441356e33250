"""Mapping one page ahead in a worker gives the engine exactly what inline mapping gives:
the same bytes to digest for the exchange log, the same source keys, payload and canonical
texts and content hashes (the worker decodes the rows and encodes them for the store), and
the same rejections."""

from __future__ import annotations

import os
import signal
from typing import Any

from adapters.civil_affairs import create_adapter
from adapters.contract import Extracted, RecordRejected
from adapters.engine.encoding import StoredJson, prepare, raw_bytes
from simulators.civil_affairs import CivilAffairsSimulator
from tests.adapters.civil_affairs.helpers import STREAMS, config_for


def _outcomes(
    sim: CivilAffairsSimulator, workers: int, chunk: int = 250, kill_after: int | None = None
) -> tuple[list[Any], int, int]:
    """Every record of every stream as the engine sees it: extracted, then mapped at once;
    and how many reached it decoded by the worker (a ``StoredJson``), not here. With
    ``kill_after`` the worker is killed once that many records have been handed on."""
    adapter = create_adapter(config_for(sim, page_size=40, map_workers=workers))
    adapter.mapper.min_page = 1  # type: ignore[attr-defined]  # every page to the worker
    for stream in adapter.streams():
        stream.map_chunk = chunk  # type: ignore[attr-defined]
    out: list[Any] = []
    from_worker = 0
    try:
        for name in STREAMS:
            stream = adapter.stream(name)
            for item in stream.extract({}):
                assert isinstance(item, Extracted)
                if kill_after is not None and len(out) == kill_after:
                    for pid in adapter.mapper._pool.pids:  # type: ignore[attr-defined]
                        os.kill(pid, signal.SIGKILL)
                from_worker += type(item.raw) is StoredJson
                received = raw_bytes(item.raw)  # what the exchange-log digest is taken of
                try:
                    m = stream.map(item)
                except RecordRejected as r:
                    out.append((name, item.cursor, received, "rejected", r.reason_code,
                                r.source_key))  # fmt: skip
                else:
                    stored = prepare(m, item.raw, received)[:4]  # key, texts, hash
                    out.append((name, item.cursor, received, *stored, dict(m.payload),
                                dict(m.canonical)))  # fmt: skip
        pages: int = adapter.mapper.pages  # type: ignore[attr-defined]
    finally:
        adapter.close()
    return out, pages, from_worker


def test_worker_mapping_equals_inline_mapping(sqlite_source: CivilAffairsSimulator) -> None:
    sqlite_source.corrupt_encoding(3, "dibao")  # rejected in the worker, quarantined alike
    sqlite_source.corrupt_encoding(2, "disability", utf8=True)
    inline, inline_pages, none = _outcomes(sqlite_source, 0)
    ahead, ahead_pages, decoded_there = _outcomes(sqlite_source, 1)
    assert inline_pages == none == 0
    assert ahead_pages > len(STREAMS)  # several pages per stream went through the worker
    assert decoded_there > 0  # rows the sync process never decoded
    assert ahead == inline
    rejected = [o for o in ahead if o[3] == "rejected"]
    assert {o[4] for o in rejected} == {"encoding.invalid", "encoding.mismatch"}
    assert len(rejected) == 5


def test_rows_queued_for_a_worker_that_dies_are_decoded_and_mapped_here(
    sqlite_source: CivilAffairsSimulator,
) -> None:
    """A worker killed mid-sync (say by the OOM killer) holds rows it never decoded: they
    are decoded here, with every row after them, and the engine sees what it always sees."""
    sqlite_source.corrupt_encoding(3, "dibao")
    inline, _, _ = _outcomes(sqlite_source, 0)
    survived, _, decoded_there = _outcomes(sqlite_source, 1, chunk=7, kill_after=20)
    # The worker's: the 20 before it died and what it had mapped ahead by then (the first
    # pages at most); every later row, in this stream and the next, was decoded here.
    assert 0 < decoded_there <= len(inline) - 100
    assert survived == inline


def test_pages_go_to_the_worker_in_pieces(sqlite_source: CivilAffairsSimulator) -> None:
    sqlite_source.corrupt_encoding(3, "dibao")
    inline, _, _ = _outcomes(sqlite_source, 0)
    whole, whole_pages, _ = _outcomes(sqlite_source, 1)
    pieces, piece_pages, _ = _outcomes(sqlite_source, 1, chunk=7)
    assert piece_pages > 3 * whole_pages  # a full page of 40 goes over in 5 pieces
    assert pieces == inline
    assert whole == inline


def test_a_page_goes_over_piece_by_piece_with_no_small_remainder(
    sqlite_source: CivilAffairsSimulator,
) -> None:
    """Pieces of ``map_chunk`` rows as they are decoded, the last of a page taking the
    remainder: a page of 16 in pieces of 5 goes over as 5, 5, 6 — never a piece of 1 that
    would be mapped inline while the worker idles. Each walk's first page is two pieces
    (10 rows), so the worker starts before a whole page is read."""
    for n in range(21):  # never stamped: read first, by id, in pages of their own (10 + 11)
        sqlite_source.insert_row(
            "dibao", case_no=f"MZLEGACY{n:04d}", name="赵建国", id_number="330106194501011234",
            gender="1", status="在册", updated_at=None,
        )  # fmt: skip
    for n in range(16):  # stamped: enough for two full pages of 16 after the first of 10
        sqlite_source.insert_row(
            "dibao", case_no=f"MZEXTRA{n:04d}", name="钱秀英", id_number="330106194602021240",
            gender="2", status="在册",
        )  # fmt: skip
    adapter = create_adapter(config_for(sqlite_source, page_size=16, map_workers=1))
    sizes: list[int] = []
    handed = adapter.mapper.map_page  # type: ignore[attr-defined]

    def counted(map_fn: Any, raws: Any, *args: Any) -> Any:
        sizes.append(len(raws))
        return handed(map_fn, raws, *args)

    adapter.mapper.map_page = counted  # type: ignore[attr-defined]
    stream = adapter.stream("dibao")
    stream.map_chunk = 5  # type: ignore[attr-defined]
    try:
        total = sum(1 for _ in stream.extract({}))
    finally:
        adapter.close()
    full, rest = divmod(total - 21 - 10, 16)
    assert full >= 2
    last = [] if rest == 0 else [rest] if rest < 10 else [5] * (rest // 5 - 1) + [5 + rest % 5]
    unstamped = [5, 5, 5, 6]  # a page of 10, then the other 11 (pieces of 5 and 6)
    assert [size for size in sizes if size] == unstamped + [5, 5] + [5, 5, 6] * full + last
