"""The civil_affairs_sync DAG syncs every table of the simulator's database, via dag.test()."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from canonical_model import SourceRecord
from canonical_model.store import make_engine, session_factory
from gridhub.settings import Settings, get_settings
from gridhub.wiring import engine as wired_engine
from simulators.civil_affairs import TABLES, CivilAffairsSimulator

STREAMS = tuple(TABLES)


def test_the_dag_has_a_check_and_one_task_per_stream(dagbag: Any) -> None:
    dag = dagbag.get_dag("civil_affairs_sync")
    assert dag is not None
    assert set(dag.task_ids) == {"check_connection"} | {f"sync_{s}" for s in STREAMS}
    for stream in STREAMS:
        assert dag.get_task(f"sync_{stream}").upstream_task_ids == {"check_connection"}


@pytest.mark.integration
def test_civil_affairs_sync_stores_every_table(
    dagbag: Any, tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if "civil_affairs" not in Settings.model_fields:
        pytest.skip("Settings has no civil_affairs field yet (GRIDHUB_CIVIL_AFFAIRS__…)")
    sim = CivilAffairsSimulator.sqlite(tmp_path / "civil_affairs.db", seed=3)
    built = sim.build(persons=600)
    monkeypatch.setenv("GRIDHUB_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("GRIDHUB_CIVIL_AFFAIRS__CONNECTION_STRING", sim.connection_string)
    get_settings.cache_clear()
    wired_engine.cache_clear()
    try:
        run = dagbag.get_dag("civil_affairs_sync").test()
    finally:
        get_settings.cache_clear()
        wired_engine.cache_clear()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert set(states.values()) == {"success"}, states
    engine = make_engine(sqlite_url)
    with session_factory(engine)() as session:
        rows = session.execute(
            select(SourceRecord.stream, func.count()).group_by(SourceRecord.stream)
        ).all()
    counts = {stream: count for stream, count in rows}
    engine.dispose()
    assert counts == {t: n for t, n in built.rows.items() if n}
