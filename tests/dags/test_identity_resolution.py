"""The identity_resolution DAG links every record of a synced store, through dag.test()."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from canonical_model import Person, SourceRecord, SyncState
from canonical_model.store import make_engine, session_factory, transaction, upgrade
from gridhub.settings import get_settings
from gridhub.wiring import engine as wired_engine
from tests.resolution.store.district import load_district

pytestmark = pytest.mark.integration


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    eng = make_engine(url)
    upgrade(eng)
    with transaction(session_factory(eng)) as s:  # what the syncs left: records, no persons
        load_district(s, persons=250)
    eng.dispose()
    monkeypatch.setenv("GRIDHUB_DATABASE_URL", url)
    get_settings.cache_clear()
    wired_engine.cache_clear()
    try:
        yield url
    finally:
        get_settings.cache_clear()
        wired_engine.cache_clear()


def _state(url: str) -> tuple[int, int, str]:
    """(records without a person, persons, mode of the last run)."""
    eng = make_engine(url)
    with session_factory(eng)() as s:
        left = s.scalar(select(func.count()).where(SourceRecord.person_id.is_(None)))
        persons = s.scalar(select(func.count()).select_from(Person))
        cursor = s.scalar(select(SyncState.cursor).where(SyncState.source == "resolution"))
    eng.dispose()
    return int(left or 0), int(persons or 0), str((cursor or {}).get("mode"))


def test_identity_resolution_dag_resolves_the_store(dagbag: Any, hub: str) -> None:
    dag = dagbag.get_dag("identity_resolution")
    assert dag is not None
    assert (dag.catchup, dag.max_active_runs) == (False, 1)
    run = dag.test()  # the first run finds no model and resolves everything
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == {"resolve_persons": "success"}
    left, persons, mode = _state(hub)
    assert (left, mode) == (0, "full")
    assert persons > 200
    run = dag.test()  # from now on: incremental, nothing new to place
    assert {str(ti.state) for ti in run.get_task_instances()} == {"success"}
    assert _state(hub) == (0, persons, "incremental")
    run = dag.test(run_conf={"full": True})  # a full re-run on demand: same persons
    assert {str(ti.state) for ti in run.get_task_instances()} == {"success"}
    assert _state(hub) == (0, persons, "full")
