"""Parsing ahead: files queued behind the worker can be taken by the loading process, and
whichever process parses a file, its spool (or its rejection) is the same."""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from adapters.engine import sync_stream
from adapters.engine.sync import Commit
from adapters.utility import UtilityAdapter, UtilityConfig, create_adapter
from adapters.utility.ahead import ParseAhead
from adapters.utility.parsing import FileRejected, parse_file
from adapters.utility.streams import _AHEAD
from simulators.utility import UtilityDrop, manifest_name
from tests.adapters.utility.conftest import manifest_rows, readings


def _options(path: Path) -> dict[str, Any]:
    manifest = json.loads((path.parent / manifest_name(path.name)).read_text(encoding="utf-8"))
    return {
        "fmt": path.suffix[1:],
        "encoding": "gb18030" if path.suffix == ".csv" else "utf-8",
        "sha256": manifest["sha256"],
        "rows": manifest["rows"],
        "chunk": 50,
    }


def _content(spool: Any) -> list[Any]:
    try:
        return list(spool)
    finally:
        spool.close()


def test_a_queued_file_is_stolen_and_every_spool_matches_an_inline_parse(
    drop: UtilityDrop,
) -> None:
    paths = drop.write_days(drop.as_of, 2)  # six files: gas, power, water per day
    expected = [_content(parse_file(p, **_options(p))) for p in paths]
    ahead = ParseAhead(enabled=True)
    if not ahead.enabled:
        pytest.skip("no fork start method on this platform")
    try:
        jobs = [ahead.start(p, **_options(p)) for p in paths]
        assert jobs[0].future is not None  # the worker has the first file, one at a time
        assert ahead.steal_one()  # this process takes the next queued file
        (stolen,) = [job for job in jobs if job.stolen]
        assert stolen.future is None
        got = [_content(job.result()) for job in jobs]
    finally:
        ahead.close()
    assert got == expected


def test_a_stolen_file_that_fails_its_checks_is_rejected_and_a_cancelled_one_never_parses(
    drop: UtilityDrop,
) -> None:
    first, second, third = drop.write_day(drop.as_of)
    bad = _options(second) | {"sha256": "0" * 64}
    ahead = ParseAhead(enabled=True)
    if not ahead.enabled:
        pytest.skip("no fork start method on this platform")
    try:
        one = ahead.start(first, **_options(first))
        two = ahead.start(second, **bad)
        three = ahead.start(third, **_options(third))
        three.cancel()
        queued = three.future is None  # the worker has not reached it (it is parsing one)
        assert ahead.steal_one()
        assert _content(one.result())
        with pytest.raises(FileRejected) as rejected:
            two.result()
        assert rejected.value.code == "file.checksum_mismatch"
        assert not ahead.steal_one()  # the cancelled file is not parsed by anyone …
        if queued:
            assert three.future is None  # … nor handed to the worker later
    finally:
        ahead.close()


def test_a_backlog_keeps_files_queued_for_the_worker_and_parses_each_file_once(
    cfg: UtilityConfig, drop: UtilityDrop, sessions: sessionmaker[Session]
) -> None:
    """Four days (twelve files): when the first file loads, the next ``_AHEAD`` are queued
    (a window of two starved the worker whenever the loader stole a file), and every file
    is parsed exactly once, by the worker or by the loading process."""
    paths = drop.write_days(drop.as_of, 4)
    adapter = create_adapter(cfg)
    assert isinstance(adapter, UtilityAdapter)
    stream = adapter.accounts
    if not stream.ahead.enabled:
        pytest.skip("no fork start method on this platform")
    try:
        items = stream.extract({})
        assert isinstance(items, Generator)  # closed below, like the engine closes it
        assert isinstance(next(items), Commit)  # the first file's first checkpoint
        assert stream.ahead.stats["started"] == _AHEAD + 1 < len(paths)
        items.close()  # cancels the queued files
    finally:
        adapter.close()
    adapter = create_adapter(cfg)
    assert isinstance(adapter, UtilityAdapter)
    try:
        report = sync_stream(adapter, "accounts", sessions, checkpoint_every=50)
    finally:
        adapter.close()
    ahead = adapter.accounts.ahead.stats
    assert ahead["started"] == ahead["ahead"] + ahead["stolen"] == len(paths)
    assert len(readings(sessions)) == manifest_rows(paths)
    assert report.quarantined == 0
