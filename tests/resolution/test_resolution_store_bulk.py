"""The full run's bulk phase on SQLite: the block index dropped for the rewrite is back
after the run, and a run that fails half way leaves it (and the old rows) in place."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.orm import Session

import resolution.store as store_module
from canonical_model.resolution_state import ResolutionBlock
from canonical_model.store import make_engine, session_factory, transaction, upgrade
from resolution.store import resolve_store
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
