"""Migrations and store behaviour, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from canonical_model import (
    Base,
    GridLevel,
    GridUnit,
    Person,
    SourceRecord,
    Task,
    TaskState,
)
from canonical_model.store import check, downgrade, make_engine, transaction, upgrade


def test_upgrade_creates_every_table_and_matches_models(engine: Engine) -> None:
    status = check(engine)
    assert status.ok, status
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())


def test_downgrade_to_base_and_back(engine: Engine) -> None:
    downgrade(engine, "base")
    assert check(engine).current is None
    assert "person" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert check(engine).ok


def test_check_reports_drift(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_person_name_pinyin"))
    status = check(engine)
    assert not status.ok
    assert any("ix_person_name_pinyin" in d for d in status.drift)


def test_times_come_back_utc_aware(sessions: sessionmaker[Session]) -> None:
    shanghai = timezone(timedelta(hours=8))
    local = datetime(2026, 3, 1, 9, 30, tzinfo=shanghai)
    with transaction(sessions) as s:
        s.add(GridUnit(code="330106", name="西湖区", level=GridLevel.DISTRICT, created_at=local))
    with sessions() as s:
        unit = s.get(GridUnit, "330106")
        assert unit is not None
        assert unit.created_at == local
        assert unit.created_at.tzinfo is not None
        assert unit.created_at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(Exception, match="naive datetime"), transaction(sessions) as s:
        s.add(
            GridUnit(code="1", name="x", level=GridLevel.DISTRICT, created_at=datetime(2026, 1, 1))
        )


def test_json_keeps_chinese_text(sessions: sessionmaker[Session]) -> None:
    payload = {"姓名": "欧阳娜娜", "地址": "上海市浦东新区张江镇科苑路88弄3号楼2单元302室"}
    with transaction(sessions) as s:
        s.add(
            SourceRecord(
                source="hukou",
                stream="persons",
                source_key="k1",
                content_hash="0" * 64,
                payload=payload,
                canonical={"name": "欧阳娜娜"},
                batch_id="b1",
            )
        )
    with sessions() as s:
        rec = s.scalars(select(SourceRecord)).one()
        assert rec.payload == payload
        assert rec.received_at.tzinfo is UTC or rec.received_at.utcoffset() == timedelta(0)


def test_source_record_key_is_unique_per_stream(sessions: sessionmaker[Session]) -> None:
    def record(stream: str) -> SourceRecord:
        return SourceRecord(
            source="hukou",
            stream=stream,
            source_key="k1",
            content_hash="0" * 64,
            payload={},
            canonical={},
            batch_id="b",
        )

    with transaction(sessions) as s:
        s.add_all([record("persons"), record("households")])
    with pytest.raises(IntegrityError), transaction(sessions) as s:
        s.add(record("persons"))


def test_task_version_stops_a_second_concurrent_accept(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        task = Task(category="welfare_check", title="独居老人探访")
        s.add(task)
    first, second = sessions(), sessions()
    try:
        a = first.get(Task, task.id)
        b = second.get(Task, task.id)
        assert a is not None
        assert b is not None
        a.state, a.assignee = TaskState.ACCEPTED, "worker-1"
        first.commit()
        b.state, b.assignee = TaskState.ACCEPTED, "worker-2"
        with pytest.raises(StaleDataError):
            second.commit()
    finally:
        first.close()
        second.close()
    with sessions() as s:
        stored = s.get(Task, task.id)
        assert stored is not None
        assert (stored.assignee, stored.version) == ("worker-1", 2)


def test_person_gets_an_opaque_uid(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        people = [Person(name="王伟"), Person(name="張偉")]
        s.add_all(people)
    uids = {p.uid for p in people}
    assert len(uids) == 2
    assert all(len(u) == 26 and not u.isdigit() for u in uids)


def test_sqlite_file_folder_is_created(tmp_path: object) -> None:
    from pathlib import Path

    db = Path(str(tmp_path)) / "nested" / "dir" / "hub.db"
    eng = make_engine(f"sqlite:///{db}")
    upgrade(eng)
    assert db.exists()
    with eng.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    eng.dispose()
