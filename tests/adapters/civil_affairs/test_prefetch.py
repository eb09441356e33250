"""The next table starts reading while the one before is stored (``Stream.prefetch``): each
table is prefetched from exactly its stored cursor, a prefetch from any other cursor or one
that failed leaves nothing behind, and the sync stores what it would have stored without."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from adapters.civil_affairs import create_adapter
from adapters.civil_affairs.streams import CivilAffairsStream, TekunStream
from adapters.contract import Extracted, SourceUnavailable
from adapters.engine import load_cursor, sync_adapter
from simulators.civil_affairs import CivilAffairsSimulator
from tests.adapters.civil_affairs.helpers import STREAMS, config_for, stored


def _spied(adapter: Any) -> list[tuple[str, dict[str, Any]]]:
    """Record each prefetch (table, cursor) and let it run."""
    calls: list[tuple[str, dict[str, Any]]] = []
    for stream in adapter.streams():
        real = stream.prefetch

        def prefetch(cursor: Mapping[str, Any], real: Any = real, name: str = stream.name) -> None:
            calls.append((name, dict(cursor)))
            real(cursor)

        stream.prefetch = prefetch
    return calls


def _keys(stream: CivilAffairsStream, cursor: Mapping[str, Any]) -> list[str | None]:
    return [i.source_key for i in stream.extract(cursor) if isinstance(i, Extracted)]


def test_each_table_is_prefetched_from_its_stored_cursor_and_nothing_is_lost(
    sqlite_source: CivilAffairsSimulator, sqlite_sessions: sessionmaker[Session]
) -> None:
    adapter = create_adapter(config_for(sqlite_source, page_size=40, map_workers=1))
    adapter.mapper.min_page = 1  # type: ignore[attr-defined]  # every piece to the worker
    calls = _spied(adapter)
    first = sync_adapter(adapter, sqlite_sessions, checkpoint_every=30)
    assert calls == [(name, {}) for name in STREAMS[1:]]  # each but the first, from the start
    for report in first:
        assert len(stored(sqlite_sessions, report.stream)) == sqlite_source.count(report.stream)
    assert all(s.on_read_all is None for s in adapter.streams())  # set for one extract only

    cursors = {name: load_cursor(sqlite_sessions, "civil_affairs", name) for name in STREAMS}
    touched = {name: sqlite_source.touch(3, name) for name in ("dibao", "disability")}
    again = create_adapter(config_for(sqlite_source, page_size=40, map_workers=1))
    again.mapper.min_page = 1  # type: ignore[attr-defined]
    calls = _spied(again)
    reports = {r.stream: r for r in sync_adapter(again, sqlite_sessions, checkpoint_every=30)}
    assert calls == [(name, cursors[name]) for name in STREAMS[1:]]
    for name in STREAMS:
        assert reports[name].updated == len(touched.get(name, ()))
        assert reports[name].inserted == 0


def test_a_prefetch_from_another_cursor_is_dropped(
    sqlite_source: CivilAffairsSimulator, sqlite_sessions: sessionmaker[Session]
) -> None:
    adapter = create_adapter(config_for(sqlite_source, page_size=40, map_workers=1))
    try:
        sync_adapter(create_adapter(config_for(sqlite_source)), sqlite_sessions, streams=["dibao"])
        cursor = load_cursor(sqlite_sessions, "civil_affairs", "dibao")
        sqlite_source.touch(2, "dibao")
        stream = adapter.stream("dibao")
        assert isinstance(stream, CivilAffairsStream)
        expected = _keys(stream, cursor)
        stream.prefetch({})  # from the start: the whole table's first page
        assert _keys(stream, cursor) == expected  # only what follows the real cursor
        stream.prefetch(cursor)
        assert _keys(stream, cursor) == expected  # the same, continued from the prefetch
    finally:
        adapter.close()
    assert 2 <= len(expected) < sqlite_source.count("dibao")


def test_a_prefetch_that_failed_leaves_the_table_to_its_own_read(
    sqlite_source: CivilAffairsSimulator,
) -> None:
    adapter = create_adapter(config_for(sqlite_source, page_size=40, max_retries=1))
    stream = adapter.stream("tekun")
    assert isinstance(stream, CivilAffairsStream)
    try:
        lock = sqlite_source.lock()
        try:
            with pytest.raises(SourceUnavailable):
                stream.prefetch({})
        finally:
            lock.release()
        keys = _keys(stream, {})
    finally:
        adapter.close()
    assert sorted(k for k in keys if k) == sorted(r["case_no"] for r in sqlite_source.rows("tekun"))


class _Refusing(TekunStream):
    def prefetch(self, cursor: Mapping[str, Any]) -> None:
        raise RuntimeError("the prefetch failed")


def test_the_engine_logs_a_failed_prefetch_and_syncs_the_table_anyway(
    sqlite_source: CivilAffairsSimulator,
    sqlite_sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    adapter = create_adapter(config_for(sqlite_source))
    refusing = _Refusing(adapter.client, adapter.mapper)  # type: ignore[attr-defined]
    adapter._streams = [adapter.stream("dibao"), refusing]  # type: ignore[attr-defined]
    with caplog.at_level(logging.WARNING, logger="adapters.engine.sync"):
        reports = sync_adapter(adapter, sqlite_sessions)
    assert "prefetch of civil_affairs/tekun skipped (RuntimeError)" in caplog.text
    assert [r.stream for r in reports] == ["dibao", "tekun"]
    assert len(stored(sqlite_sessions, "tekun")) == sqlite_source.count("tekun")
