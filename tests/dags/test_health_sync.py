"""The health_sync DAG syncs the real FHIR simulator into a store, through dag.test().

Configuration goes the district's way — ``GRIDHUB_HEALTH__…`` environment variables — so the
DAG → ``run_sync`` → adapter → engine path is the one a deployment runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from canonical_model import SourceRecord
from canonical_model.store import make_engine, session_factory, upgrade
from gridhub.settings import get_settings
from gridhub.wiring import engine as wired_engine
from simulators.health import HealthSimulator

pytestmark = pytest.mark.integration


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, HealthSimulator]]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    eng = make_engine(url)
    upgrade(eng)
    eng.dispose()
    with HealthSimulator(50, seed=23, invalid=3) as sim:
        monkeypatch.setenv("GRIDHUB_DATABASE_URL", url)
        settings = {"BASE_URL": sim.base_url, "PAGE_SIZE": "20", "LOOKBACK_S": "0"}
        for key, value in settings.items():
            monkeypatch.setenv(f"GRIDHUB_HEALTH__{key}", value)
        get_settings.cache_clear()
        wired_engine.cache_clear()
        try:
            yield url, sim
        finally:
            get_settings.cache_clear()
            wired_engine.cache_clear()


def test_health_sync_dag_stores_patients_then_their_events(
    dagbag: Any, hub: tuple[str, HealthSimulator]
) -> None:
    url, sim = hub
    dag = dagbag.get_dag("health_sync")
    assert dag is not None
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    run = dag.test()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == dict.fromkeys(
        ("sync_patients", "sync_encounters", "sync_observations"), "success"
    )
    eng = make_engine(url)
    with session_factory(eng)() as s:
        stored = dict(
            s.execute(select(SourceRecord.stream, func.count()).group_by(SourceRecord.stream)).all()
        )
    eng.dispose()
    counts = sim.stats()["counts"]
    assert stored == {
        "patients": counts["Patient"] - 1,
        "encounters": counts["Encounter"] - 1,
        "observations": counts["Observation"] - 1,
    }
