"""The sync engine's promises, on SQLite and PostgreSQL: nothing lost, nothing duplicated,
the cursor never past unstored data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.contract import SourceUnavailable
from adapters.engine import ConcurrentSyncError, load_cursor, sync_stream
from canonical_model import (
    ExchangeLogEntry,
    Quarantine,
    QuarantineStatus,
    SourceRecord,
    SourceRecordHistory,
    SyncState,
)
from canonical_model.store import transaction
from tests.adapters.jsonl_source import LinesAdapter, append_lines, write_lines

REPO = Path(__file__).resolve().parents[2]


def people(n: int, start: int = 0, suffix: str = "") -> list[dict[str, object]]:
    return [{"key": f"p{i}", "name": f"居民{i}{suffix}"} for i in range(start, start + n)]


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_first_sync_stores_everything_and_commits_the_cursor(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    src = tmp_path / "src.jsonl"
    write_lines(src, people(1234))
    report = sync_stream(LinesAdapter(src), "people", sessions, checkpoint_every=100)
    assert (report.received, report.inserted, report.quarantined) == (1234, 1234, 0)
    assert report.checkpoints == 13
    assert count(sessions, SourceRecord) == 1234
    assert load_cursor(sessions, "lines", "people") == {"line": 1234}
    with sessions() as s:
        entries = s.scalars(select(ExchangeLogEntry).order_by(ExchangeLogEntry.seq)).all()
    assert [e.record_count for e in entries] == [100] * 12 + [34]
    assert all(e.direction == "inbound" and e.counterpart == "lines" for e in entries)
    assert all(e.correlation_id == report.batch_id for e in entries)
    assert len({e.payload_sha256 for e in entries}) == 13


def test_rerun_is_idempotent_and_resumes_from_the_cursor(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    src = tmp_path / "src.jsonl"
    write_lines(src, people(50))
    sync_stream(LinesAdapter(src), "people", sessions, checkpoint_every=20)
    again = sync_stream(LinesAdapter(src), "people", sessions, checkpoint_every=20)
    assert (again.received, again.checkpoints) == (0, 0)
    append_lines(src, people(5, start=50))
    more = sync_stream(LinesAdapter(src), "people", sessions, checkpoint_every=20)
    assert (more.received, more.inserted) == (5, 5)
    assert count(sessions, SourceRecord) == 55


def test_full_resync_rewrites_nothing_unchanged(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    src = tmp_path / "src.jsonl"
    write_lines(src, people(30))
    sync_stream(LinesAdapter(src), "people", sessions)
    with transaction(sessions) as s:
        s.get_one(SyncState, ("lines", "people")).cursor = {}
    report = sync_stream(LinesAdapter(src), "people", sessions)
    assert (report.received, report.inserted, report.updated, report.unchanged) == (30, 0, 0, 30)
    with sessions() as s:
        assert set(s.scalars(select(SourceRecord.version))) == {1}


def test_changed_records_are_versioned_with_history(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    src = tmp_path / "src.jsonl"
    write_lines(src, people(10))
    sync_stream(LinesAdapter(src), "people", sessions)
    # p3 changes twice within one checkpoint, p4 once; p5 is re-sent unchanged.
    append_lines(
        src,
        [
            {"key": "p3", "name": "居民3-改"},
            {"key": "p4", "name": "居民4-改"},
            {"key": "p3", "name": "居民3-再改"},
            {"key": "p5", "name": "居民5"},
        ],
    )
    report = sync_stream(LinesAdapter(src), "people", sessions)
    assert (report.inserted, report.updated, report.unchanged) == (0, 3, 1)
    assert report.received == report.inserted + report.updated + report.unchanged
    with sessions() as s:
        p3 = s.scalars(select(SourceRecord).where(SourceRecord.source_key == "p3")).one()
        assert (p3.version, p3.payload["name"]) == (3, "居民3-再改")
        history = s.scalars(
            select(SourceRecordHistory)
            .where(SourceRecordHistory.source_record_id == p3.id)
            .order_by(SourceRecordHistory.version)
        ).all()
        assert [(h.version, h.payload["name"]) for h in history] == [
            (1, "居民3"),
            (2, "居民3-改"),
        ]
    assert count(sessions, SourceRecord) == 10


def test_bad_records_are_quarantined_whole_and_the_batch_goes_on(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    src = tmp_path / "src.jsonl"
    write_lines(
        src,
        [
            *people(3),
            "{not json at all, 姓名: 张三",
            {"name": "no key"},
            {"key": "p9", "bad": True},
            {"key": "p10", "boom": 1},
            *people(2, start=3),
        ],
    )
    report = sync_stream(LinesAdapter(src), "people", sessions, checkpoint_every=4)
    assert (report.received, report.inserted, report.quarantined) == (9, 5, 4)
    with sessions() as s:
        rows = s.scalars(select(Quarantine).order_by(Quarantine.id)).all()
        assert [r.reason_code for r in rows] == [
            "schema.not_json",
            "schema.missing_key",
            "value.bad",
            "mapping.error",
        ]
        assert rows[0].raw == "{not json at all, 姓名: 张三".encode()
        assert rows[2].source_key == "p9"
        assert "ZeroDivisionError" in rows[3].reason
        assert "mapper bug" not in rows[3].reason
    assert load_cursor(sessions, "lines", "people") == {"line": 9}


def test_redelivered_bad_record_is_kept_once_and_released_when_fixed(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    src = tmp_path / "src.jsonl"
    write_lines(src, [{"key": "p1", "bad": True}])
    sync_stream(LinesAdapter(src), "people", sessions)
    with transaction(sessions) as s:
        s.get_one(SyncState, ("lines", "people")).cursor = {}
    sync_stream(LinesAdapter(src), "people", sessions)
    assert count(sessions, Quarantine) == 1
    append_lines(src, [{"key": "p1", "name": "修正后"}])
    sync_stream(LinesAdapter(src), "people", sessions)
    with sessions() as s:
        q = s.scalars(select(Quarantine)).one()
        assert q.status == QuarantineStatus.RELEASED
        assert q.released_at is not None


def test_source_down_midway_keeps_what_arrived_and_resumes(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    src = tmp_path / "src.jsonl"
    write_lines(src, people(100))
    with pytest.raises(SourceUnavailable):
        sync_stream(LinesAdapter(src, fail_after=45), "people", sessions, checkpoint_every=20)
    assert count(sessions, SourceRecord) == 45
    assert load_cursor(sessions, "lines", "people") == {"line": 45}
    report = sync_stream(LinesAdapter(src), "people", sessions, checkpoint_every=20)
    assert (report.received, report.inserted) == (55, 55)
    assert count(sessions, SourceRecord) == 100


def test_a_second_run_moving_the_cursor_stops_the_first(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    src = tmp_path / "src.jsonl"
    write_lines(src, people(30))

    calls = 0

    def interfere(_report: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            with transaction(sessions) as s:
                s.get_one(SyncState, ("lines", "people")).cursor = {"line": 999}

    with pytest.raises(ConcurrentSyncError):
        sync_stream(LinesAdapter(src), "people", sessions, checkpoint_every=10, progress=interfere)
    assert count(sessions, SourceRecord) == 10


def test_a_second_run_is_noticed_even_when_the_cursor_does_not_move(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    src = tmp_path / "src.jsonl"
    write_lines(src, people(30))
    calls = 0

    def interfere(_report: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:  # another run commits a checkpoint that leaves the cursor where it was
            with transaction(sessions) as s:
                s.get_one(SyncState, ("lines", "people")).last_batch_id = "another-run"

    with pytest.raises(ConcurrentSyncError):
        sync_stream(LinesAdapter(src), "people", sessions, checkpoint_every=10, progress=interfere)
    assert count(sessions, SourceRecord) == 10


CHILD = """
import sys
from pathlib import Path
from adapters.engine import sync_stream
from canonical_model.store import make_engine, session_factory
from tests.adapters.jsonl_source import LinesAdapter
sessions = session_factory(make_engine(sys.argv[1]))
sync_stream(LinesAdapter(Path(sys.argv[2])), "people", sessions, checkpoint_every=100)
"""


@pytest.mark.integration
def test_kill_9_in_the_middle_of_a_batch_loses_and_duplicates_nothing(
    tmp_path: Path, store_url: str, sessions: sessionmaker[Session]
) -> None:
    src = tmp_path / "src.jsonl"
    records = people(1000)
    write_lines(src, records)
    env = {**os.environ, "GRIDHUB_TEST_KILL_AT": "457"}
    crashed = subprocess.run(
        [sys.executable, "-c", CHILD, store_url, str(src)], cwd=REPO, env=env, check=False
    )
    assert crashed.returncode == -9
    # Only whole checkpoints survived, and the cursor names exactly their end.
    assert count(sessions, SourceRecord) == 400
    assert load_cursor(sessions, "lines", "people") == {"line": 400}
    env.pop("GRIDHUB_TEST_KILL_AT")
    subprocess.run(
        [sys.executable, "-c", CHILD, store_url, str(src)], cwd=REPO, env=env, check=True
    )
    with sessions() as s:
        keys = list(s.scalars(select(SourceRecord.source_key)))
        logged = s.scalar(select(func.sum(ExchangeLogEntry.record_count)))
    assert sorted(keys) == sorted(str(r["key"]) for r in records)  # none lost, none twice
    assert logged == 1000  # the lost in-flight checkpoint was never logged


def test_an_oversized_record_is_quarantined_whole_and_the_batch_goes_on(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    huge = {"key": "p-huge", "name": "王" * 100_000}  # 300 KB of UTF-8: a 10 MB name in small
    src = tmp_path / "src.jsonl"
    write_lines(src, [*people(2), huge, *people(2, start=2)])

    report = sync_stream(
        LinesAdapter(src), "people", sessions, checkpoint_every=2, max_record_bytes=64 * 1024
    )

    assert (report.received, report.inserted, report.quarantined) == (5, 4, 1)
    with sessions() as s:
        (row,) = s.scalars(select(Quarantine)).all()
        assert row.reason_code == "schema.oversized"
        assert str(64 * 1024) in row.reason
        assert "王" not in row.reason  # the reason names the size, never the content
        assert len(row.raw) > 64 * 1024  # kept whole: nothing is lost
        keys = set(s.scalars(select(SourceRecord.source_key)).all())
    assert "p-huge" not in keys
    assert len(keys) == 4


def test_a_record_new_and_changed_within_one_checkpoint_keeps_both_versions_exactly(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    """The bulk paths (COPY on PostgreSQL, executemany on SQLite) store text that needs
    escaping byte for byte, and timestamps as the column type writes them."""
    first = {"key": "p1", "name": "甲\t乙\\丙\n丁", "note": 'quote " and \\N'}
    second = {"key": "p1", "name": "甲乙丙丁", "note": None}
    write_lines(src := tmp_path / "src.jsonl", [first, {"key": "p2", "name": "居民2"}, second])
    report = sync_stream(LinesAdapter(src), "people", sessions)
    assert (report.inserted, report.updated, report.unchanged) == (2, 1, 0)
    with sessions() as s:
        p1 = s.scalars(select(SourceRecord).where(SourceRecord.source_key == "p1")).one()
        (old,) = s.scalars(
            select(SourceRecordHistory).where(SourceRecordHistory.source_record_id == p1.id)
        ).all()
        (entry,) = s.scalars(select(ExchangeLogEntry)).all()
    assert (p1.version, p1.payload, p1.canonical["name"]) == (2, second, "甲乙丙丁")
    assert (old.version, old.payload) == (1, first)
    # One checkpoint, one instant: the record, its superseded version and the log agree.
    assert p1.received_at == p1.updated_at == old.received_at == old.superseded_at == entry.at
    assert p1.batch_id == old.batch_id == report.batch_id


NO_ORM_CHILD = """
import sys
from pathlib import Path
from sqlalchemy.orm import Mapper
from adapters.engine import sync_stream
from canonical_model import SyncState
from canonical_model.store import make_engine, session_factory
from tests.adapters.jsonl_source import LinesAdapter
sessions = session_factory(make_engine(sys.argv[1]))
report = sync_stream(LinesAdapter(Path(sys.argv[2])), "people", sessions, checkpoint_every=50)
mapper: Mapper = SyncState.__mapper__
print(report.inserted, report.checkpoints, mapper.configured)
"""


def test_a_sync_in_a_fresh_process_never_configures_the_orm(tmp_path: Path, store_url: str) -> None:
    """The first ORM use of a process configures every mapper of the model (~50 ms, and as
    much again compiling): a sync's path is Core only, so a CLI sync does not pay it."""
    src = tmp_path / "src.jsonl"
    write_lines(src, people(120))
    out = subprocess.run(
        [sys.executable, "-c", NO_ORM_CHILD, store_url, str(src)],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out.split() == ["120", "3", "False"]
