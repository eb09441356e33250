"""The hukou_sync DAG syncs the real 户籍 simulator into a store, through dag.test()."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from canonical_model import SourceRecord
from canonical_model.store import make_engine, session_factory, upgrade
from gridhub.settings import Settings, get_settings
from gridhub.wiring import engine as wired_engine
from simulators.hukou import HukouSimulator

pytestmark = pytest.mark.integration


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, HukouSimulator]]:
    if "hukou" not in Settings.model_fields:
        pytest.skip("gridhub.settings has no `hukou: HukouConfig` field yet")
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    eng = make_engine(url)
    upgrade(eng)
    eng.dispose()
    with HukouSimulator(120, seed=13) as sim:
        monkeypatch.setenv("GRIDHUB_DATABASE_URL", url)
        monkeypatch.setenv("GRIDHUB_HUKOU__WSDL_URL", sim.wsdl_url)
        monkeypatch.setenv("GRIDHUB_HUKOU__USERNAME", sim.username)
        monkeypatch.setenv("GRIDHUB_HUKOU__PASSWORD", sim.password)
        monkeypatch.setenv("GRIDHUB_HUKOU__PAGE_SIZE", "50")
        get_settings.cache_clear()
        wired_engine.cache_clear()
        try:
            yield url, sim
        finally:
            get_settings.cache_clear()
            wired_engine.cache_clear()


def test_hukou_sync_dag_stores_the_register(dagbag: Any, hub: tuple[str, HukouSimulator]) -> None:
    url, sim = hub
    dag = dagbag.get_dag("hukou_sync")
    assert dag is not None
    assert dag.catchup is False
    run = dag.test()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == {"sync_persons": "success"}
    eng = make_engine(url)
    with session_factory(eng)() as s:
        stored = s.scalar(select(func.count()).select_from(SourceRecord))
    eng.dispose()
    assert stored == len(sim.snapshot()) == 120
