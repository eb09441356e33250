"""The full run's bulk phase on SQLite: the block index and the person indexes dropped
for the rewrite are back after the run, and a run that fails half way leaves them (and
the old rows) in place; the run writes without foreign-key checks, leaves no reference
dangling, and the next unit of work has its checks back."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import resolution.store as store_module
import resolution.store_golden as store_golden
from canonical_model import Person
from canonical_model.resolution_state import ResolutionBlock
from canonical_model.store import make_engine, session_factory, transaction, upgrade
from resolution.bulk import foreign_keys_unchecked, indexes_deferred
from resolution.store import resolve_store
from resolution.store_golden import refresh_persons
from tests.resolution.store.district import load_district

INDEX = "ix_resolution_block_record"


def _index_sql(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :n"), {"n": INDEX}
        ).scalar()


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    eng = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(eng)
    with transaction(session_factory(eng)) as s:
        load_district(s, 300)
    return eng


def test_block_index_rebuilt_after_full_run(engine: Engine) -> None:
    before = _index_sql(engine)
    assert before is not None
    with transaction(session_factory(engine)) as s:
        summary = resolve_store(s)
    assert summary["block_rows"] > 0
    assert _index_sql(engine) == before
    with engine.connect() as conn:
        plan = conn.execute(
            text("EXPLAIN QUERY PLAN SELECT key FROM resolution_block WHERE source_record_id = 1")
        ).all()
    assert any(INDEX in str(row) for row in plan)


def test_failed_run_keeps_index_and_rows(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    factory = session_factory(engine)
    with transaction(factory) as s:
        resolve_store(s)
    with factory() as s:
        rows = s.scalar(select(func.count()).select_from(ResolutionBlock))
    assert rows

    seen: list[object] = []

    def broken(session: Session, *args: object, **kwargs: object) -> None:
        found = session.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = :n"), {"n": INDEX}
        ).scalar()
        seen.append(found)
        session.execute(delete(ResolutionBlock))  # half written when the disk fills up
        raise RuntimeError("disk full")

    monkeypatch.setattr(store_module, "rebuild_index", broken)
    with pytest.raises(RuntimeError), transaction(factory) as s:
        resolve_store(s, refit=True)
    assert seen == [None]  # the rewrite ran without the index
    assert _index_sql(engine) is not None  # and the rollback brought it back
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(ResolutionBlock)) == rows


def _indexes(engine: Engine, *tables: str) -> dict[str, str]:
    marks = ", ".join(f"'{t}'" for t in tables)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                f"AND tbl_name IN ({marks}) AND sql IS NOT NULL"
            )
        ).all()
    return {str(name): str(sql) for name, sql in rows}


#: the golden write's secondary indexes, dropped for a full run's rewrite of every person
GOLDEN = ("ix_person_resident_id", "ix_person_phone", "ix_person_grid_pinyin")


def test_person_indexes_rebuilt_after_full_run(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _indexes(engine, "person", "person_identifier")
    assert set(GOLDEN) <= set(before)
    assert "ix_person_identifier_lookup" in before
    seen: list[set[str]] = []
    write = store_golden._write

    def spying(session: Session, *args: Any, **kwargs: Any) -> Any:
        names = session.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
        seen.append(set(names.scalars()))
        return write(session, *args, **kwargs)

    monkeypatch.setattr(store_golden, "_write", spying)
    with transaction(session_factory(engine)) as s:
        summary = resolve_store(s)
    assert summary["golden"]["persons"] > 0
    assert seen
    assert all(not (set(GOLDEN) & names) for names in seen)  # written without them
    assert all("ix_person_merged_into_id" in names for names in seen)  # not set: kept
    assert _indexes(engine, "person", "person_identifier") == before
    with engine.connect() as conn:
        plan = conn.execute(
            text("EXPLAIN QUERY PLAN SELECT id FROM person WHERE resident_id = 'x'")
        ).all()
    assert any("ix_person_resident_id" in str(row) for row in plan)

    seen.clear()  # a placement's refresh of a few persons keeps the indexes
    with transaction(session_factory(engine)) as s:
        refresh_persons(s, s.scalars(select(Person.id).limit(3)).all())
    assert seen
    assert all(set(GOLDEN) <= names for names in seen)


def test_failed_golden_write_keeps_person_indexes(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _indexes(engine, "person", "person_identifier")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(store_golden, "_write", broken)
    with pytest.raises(RuntimeError), transaction(session_factory(engine)) as s:
        resolve_store(s)
    assert _indexes(engine, "person", "person_identifier") == before


def test_deferred_indexes_back_even_if_the_error_is_swallowed(engine: Engine) -> None:
    """A caller that catches the failure and commits must not commit the drop."""
    before = _indexes(engine, "person")
    seen: list[set[str]] = []

    def half_way(s: Session) -> None:
        with indexes_deferred(s, "person", columns=("phone",)):
            names = s.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
            seen.append(set(names.scalars()))
            raise RuntimeError("half way")

    with transaction(session_factory(engine)) as s:
        s.execute(text("UPDATE person SET tags = tags"))  # the run's transaction is open
        with pytest.raises(RuntimeError):
            half_way(s)
    assert seen
    assert "ix_person_phone" not in seen[0]  # it was dropped
    assert _indexes(engine, "person") == before  # and is back although the error was caught


def test_collector_paused_for_the_run_and_restored(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert gc.isenabled()
    seen: list[bool] = []
    rebuild = store_module.rebuild_index

    def spying(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return rebuild(*args, **kwargs)

    monkeypatch.setattr(store_module, "rebuild_index", spying)
    with transaction(session_factory(engine)) as s:
        resolve_store(s)
    assert seen == [False]
    assert gc.isenabled()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(store_module, "rebuild_index", broken)
    with pytest.raises(RuntimeError), transaction(session_factory(engine)) as s:
        resolve_store(s, refit=True)
    assert gc.isenabled()  # back on after a failed run too
    monkeypatch.setattr(store_module, "rebuild_index", rebuild)
    gc.disable()
    try:  # and left off for a caller that had it off
        with transaction(session_factory(engine)) as s:
            resolve_store(s)
        assert not gc.isenabled()
    finally:
        gc.enable()


def _checks(s: Session) -> int:
    return int(s.execute(text("PRAGMA foreign_keys")).scalar_one())


#: a block row for a record that does not exist
DANGLING = "INSERT INTO resolution_block (key, source_record_id) VALUES (1, 999999999)"


def test_full_run_writes_unchecked_and_leaves_nothing_dangling(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    rebuild = store_module.rebuild_index

    def spying(session: Session, *args: Any, **kwargs: Any) -> Any:
        seen.append(_checks(session))
        return rebuild(session, *args, **kwargs)

    monkeypatch.setattr(store_module, "rebuild_index", spying)
    for refit in (False, True):  # the first run fits, the second reuses the model
        with transaction(session_factory(engine)) as s:
            summary = resolve_store(s, refit=refit)
        assert summary["block_rows"] > 0
    assert seen == [0, 0]
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        with pytest.raises(IntegrityError):
            conn.execute(text(DANGLING))


def test_checks_back_on_for_the_same_connection_after_a_rollback(engine: Engine) -> None:
    factory = session_factory(engine)
    with factory() as s:
        assert foreign_keys_unchecked(s)
        raw = s.connection().connection.dbapi_connection
        assert _checks(s) == 0
        s.execute(text(DANGLING))  # not checked
        s.rollback()
    pooled = engine.raw_connection()
    try:
        assert pooled.dbapi_connection is raw  # the pool handed the same connection back
        assert pooled.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        pooled.close()
    with factory() as s, pytest.raises(IntegrityError):
        s.execute(text(DANGLING))


def test_checks_stay_on_once_the_transaction_has_written(engine: Engine) -> None:
    with transaction(session_factory(engine)) as s:
        s.execute(text("UPDATE person SET tags = tags"))  # SQLite would ignore the pragma now
        assert not foreign_keys_unchecked(s)
        assert _checks(s) == 1
        with pytest.raises(IntegrityError):
            s.execute(text(DANGLING))


def test_in_memory_store_gets_its_checks_back(tmp_path: Path) -> None:
    eng = make_engine("sqlite://")
    upgrade(eng)
    with transaction(session_factory(eng)) as s:
        load_district(s, 40)
    with transaction(session_factory(eng)) as s:
        resolve_store(s)
    with session_factory(eng)() as s:
        assert _checks(s) == 1
