"""What the engine does on PostgreSQL alone: how its binary ``COPY`` stores values, its key
lookup's plan, when it analyzes ``source_record``, and which checkpoints commit without
waiting for the disk."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.contract import SourceUnavailable, SyncReport
from adapters.engine import sync_stream
from adapters.engine.encoding import content_hash
from adapters.engine.store import _LOOKUP_PG
from canonical_model import SourceRecord
from canonical_model.store import make_engine, session_factory
from tests.adapters.jsonl_source import LinesAdapter, append_lines, write_lines

pytestmark = pytest.mark.integration

_NO_WAIT = "SET LOCAL synchronous_commit TO off"


def people(n: int, start: int = 0) -> list[dict[str, object]]:
    return [{"key": f"p{i}", "name": f"居民{i}"} for i in range(start, start + n)]


@dataclass
class _Run:
    """A PostgreSQL store, a lines source to sync into it, and every transaction it commits."""

    sessions: sessionmaker[Session]
    transactions: list[list[str]]
    src: Path

    def sync(self, every: int, fail_after: int | None = None) -> SyncReport:
        adapter = LinesAdapter(self.src, fail_after=fail_after)
        return sync_stream(adapter, "people", self.sessions, checkpoint_every=every)


@pytest.fixture
def run(tmp_path: Path, pg_engine: Engine) -> _Run:
    return _Run(session_factory(pg_engine), _transactions(pg_engine), tmp_path / "src.jsonl")


def _transactions(engine: Engine) -> list[list[str]]:
    """Each committed transaction of ``engine`` from now on, as the statements it ran."""
    done: list[list[str]] = []
    current: dict[int, list[str]] = {}

    @event.listens_for(engine, "before_cursor_execute")
    def seen(connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        current.setdefault(id(connection), []).append(statement)

    @event.listens_for(engine, "commit")
    def committed(connection: Any) -> None:
        done.append(current.pop(id(connection), []))

    @event.listens_for(engine, "rollback")
    def rolled_back(connection: Any) -> None:
        current.pop(id(connection), None)

    return done


def _writes(transactions: list[list[str]]) -> list[list[str]]:
    verbs = ("INSERT", "UPDATE", "COPY", "DELETE")
    return [t for t in transactions if any(s.lstrip().upper().startswith(verbs) for s in t)]


def _checkpoint(transaction: list[str]) -> bool:
    """A checkpoint's transaction: it appends the checkpoint's exchange-log entry. (Its
    ``COPY`` and lookups run on the driver's cursor, past SQLAlchemy's events.)"""
    return any(s.startswith("INSERT INTO exchange_log") for s in transaction)


#: Values a text ``COPY`` had to escape or that a binary one could mangle: tabs, newlines,
#: backslashes and quotes, four-byte UTF-8, full-width and traditional characters, numbers at
#: the edges of their types, nesting, and a key that sorts differently as bytes and as text.
_AWKWARD = [
    {"key": "p1", "name": "王\t小明\n", "note": 'a\\b "q" \\N \\.', "x": None},
    {"key": "p2", "name": "𠀋𡈽 ＡＢＣ 張偉 😀", "n": [1, -2, 2**53, 1.5, True, False, None]},
    {"key": "p3", "name": "李四", "nested": {"z": {"y": []}, "a": {}}, "É": "é", "a": "\u2028"},
    {"key": "p\t4", "name": "", "big": 12345678901234567890, "neg": -0.0001},
]


def _stored(url: str) -> dict[str, tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            rows = session.execute(
                select(
                    SourceRecord.source_key,
                    SourceRecord.payload,
                    SourceRecord.canonical,
                    SourceRecord.content_hash,
                    SourceRecord.version,
                    SourceRecord.received_at,
                    SourceRecord.updated_at,
                )
            )
            return {r[0]: tuple(r[1:]) for r in rows}
    finally:
        engine.dispose()


def test_the_binary_copy_stores_what_the_sqlite_store_stores(
    tmp_path: Path, pg_url: str, sqlite_url: str
) -> None:
    """The same records, synced into each store, read back equal: payloads and canonical
    fields as JSON objects (psycopg's own jsonb dumper would have stored each text as one JSON
    string) and hashes of the payload as received; on PostgreSQL both timestamps are the
    checkpoint's clock reading to the microsecond."""
    src = tmp_path / "src.jsonl"
    write_lines(src, _AWKWARD)
    stored = {}
    for url in (pg_url, sqlite_url):
        engine = make_engine(url)
        try:
            report = sync_stream(LinesAdapter(src), "people", session_factory(engine))
        finally:
            engine.dispose()
        assert (report.inserted, report.quarantined) == (len(_AWKWARD), 0)
        stored[url] = _stored(url)
    on_postgres, on_sqlite = stored[pg_url], stored[sqlite_url]
    engine = make_engine(pg_url)
    with engine.connect() as connection:
        kinds = connection.exec_driver_sql(
            "SELECT DISTINCT jsonb_typeof(payload), jsonb_typeof(canonical) FROM source_record"
        ).all()
        # The checkpoint's one clock reading, which the state row keeps too.
        checkpointed = connection.exec_driver_sql("SELECT updated_at FROM sync_state").scalar()
    engine.dispose()
    assert set(on_postgres) == {r["key"] for r in _AWKWARD}
    for record in _AWKWARD:
        payload, canonical, digest, version, received, updated = on_postgres[record["key"]]
        assert payload == record
        assert canonical == {"name": record["name"]}
        assert digest == content_hash(record)
        assert version == 1
        assert received == updated == checkpointed
        assert on_postgres[record["key"]][:4] == on_sqlite[record["key"]][:4]
    assert kinds == [("object", "object")]


def test_the_key_lookup_probes_the_unique_index_on_a_table_never_analyzed(
    pg_engine: Engine,
) -> None:
    """Before any statistics exist (a first load, autovacuum not round yet), the lookup of a
    checkpoint's keys must still probe the unique index per key: written as
    ``source_key = ANY(…)`` it scanned the whole stream instead, every checkpoint."""
    with pg_engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE source_record SET (autovacuum_enabled = false)")
        connection.exec_driver_sql(
            "INSERT INTO source_record (source, stream, source_key, content_hash, payload, "
            "canonical, version, batch_id, received_at, updated_at) "
            "SELECT 'civil_affairs', 'dibao', 'DB' || g, md5(g::text), '{}', '{}', 1, 'b', "
            "now(), now() FROM generate_series(1, 20000) AS g"
        )
    with pg_engine.connect() as connection:
        statistics = connection.exec_driver_sql(
            "SELECT count(*) FROM pg_stats WHERE tablename = 'source_record'"
        ).scalar()
        assert statistics == 0, "the table must not have been analyzed for this test"
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        keys = [f"DB{i}" for i in range(1, 20001, 40)]
        cursor.execute("EXPLAIN (FORMAT JSON) " + _LOOKUP_PG, (keys, "civil_affairs", "dibao"))
        plan = json.dumps(cursor.fetchone()[0])
        cursor.execute(_LOOKUP_PG, (keys, "civil_affairs", "dibao"))
        found = cursor.fetchall()
    assert '"Index Name": "uq_source_record_source_stream_source_key"' in plan
    assert "k.key" in plan
    assert "Index Cond" in plan
    assert '"Filter"' not in plan, plan
    assert sorted(row[0] for row in found) == sorted(keys)


def test_statistics_are_refreshed_once_a_sync_is_done_and_only_if_the_table_doubled(
    run: _Run,
) -> None:
    transactions = run.transactions
    write_lines(run.src, people(3000))
    assert run.sync(every=50).checkpoints == 60
    analyzed = [i for i, t in enumerate(transactions) if any("ANALYZE" in s for s in t)]
    assert len(analyzed) == 1, "one ANALYZE, after the sync, not one per doubling during it"
    assert analyzed[0] > max(i for i, t in enumerate(transactions) if _checkpoint(t))

    append_lines(run.src, people(100, start=3000))  # far from doubling: no new ANALYZE
    run.sync(every=50)
    assert sum(any("ANALYZE" in s for s in t) for t in transactions) == 1

    append_lines(run.src, people(6000, start=3100))  # doubles it again
    run.sync(every=500)
    assert sum(any("ANALYZE" in s for s in t) for t in transactions) == 2


def test_only_the_last_checkpoint_of_a_sync_waits_for_the_disk(run: _Run) -> None:
    write_lines(run.src, people(1234))
    report = run.sync(every=100)
    writes = _writes(run.transactions)
    assert report.checkpoints == len(writes) == 13
    assert [_NO_WAIT in t for t in writes] == [True] * 12 + [False]
    assert _checkpoint(writes[-1])


def test_a_sync_ending_on_a_checkpoint_still_ends_on_disk(run: _Run, pg_engine: Engine) -> None:
    """The records ran out exactly at a checkpoint, committed without waiting: the sync then
    rewrites its state row in a transaction that waits, which flushes everything before it."""
    write_lines(run.src, people(300))
    report = run.sync(every=100)
    writes = _writes(run.transactions)
    assert report.checkpoints == 3
    assert [_NO_WAIT in t for t in writes] == [True, True, True, False]
    assert len(writes[-1]) == 1
    assert writes[-1][0].startswith("UPDATE sync_state")
    with pg_engine.connect() as connection:
        assert connection.exec_driver_sql(
            "SELECT cursor FROM sync_state WHERE source = 'lines'"
        ).scalar() == {"line": 300}


def test_a_source_failing_on_a_checkpoint_boundary_still_ends_on_disk(run: _Run) -> None:
    write_lines(run.src, people(300))
    with pytest.raises(SourceUnavailable):
        run.sync(every=100, fail_after=200)
    writes = _writes(run.transactions)
    assert [_NO_WAIT in t for t in writes] == [True, True, False]
    assert writes[-1][0].startswith("UPDATE sync_state")
