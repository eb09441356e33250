"""The store_maintenance DAG really migrates the store, run through Airflow's dag.test()."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from canonical_model.store import check, make_engine
from gridhub.settings import get_settings
from gridhub.wiring import engine as wired_engine


@pytest.mark.integration
def test_store_maintenance_migrates_a_new_store(
    dagbag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    monkeypatch.setenv("GRIDHUB_DATABASE_URL", url)
    get_settings.cache_clear()
    wired_engine.cache_clear()
    try:
        run = dagbag.get_dag("store_maintenance").test()
    finally:
        get_settings.cache_clear()
        wired_engine.cache_clear()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == {"upgrade_store": "success", "table_counts": "success"}
    eng = make_engine(url)
    assert check(eng).ok
    assert "exchange_log" in inspect(eng).get_table_names()
    eng.dispose()
