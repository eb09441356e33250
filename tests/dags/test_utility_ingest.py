"""The utility_ingest DAG loads a real inbox through dag.test(): good files archived and
their readings stored, a bad file rejected with its reason.

Configured through ``GRIDHUB_UTILITY__…`` environment variables, as a deployment is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.utility import UtilityConfig
from canonical_model.store import make_engine, session_factory, upgrade
from canonical_model.utility import UtilityReading
from gridhub.settings import get_settings
from gridhub.wiring import engine as wired_engine
from simulators.utility import UtilityDrop

pytestmark = pytest.mark.integration


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, UtilityConfig]]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    eng = make_engine(url)
    upgrade(eng)
    eng.dispose()
    cfg = UtilityConfig(
        inbox=tmp_path / "inbox",
        archive=tmp_path / "archive",
        rejected=tmp_path / "rejected",
        manifest_grace_s=0,
    )
    cfg.inbox.mkdir()
    monkeypatch.setenv("GRIDHUB_DATABASE_URL", url)
    for key in ("inbox", "archive", "rejected", "manifest_grace_s"):
        monkeypatch.setenv(f"GRIDHUB_UTILITY__{key.upper()}", str(getattr(cfg, key)))
    get_settings.cache_clear()
    wired_engine.cache_clear()
    try:
        yield url, cfg
    finally:
        get_settings.cache_clear()
        wired_engine.cache_clear()


def test_utility_ingest_dag_loads_the_inbox(dagbag: Any, hub: tuple[str, UtilityConfig]) -> None:
    url, cfg = hub
    drop = UtilityDrop(cfg.inbox, 40, seed=29)
    good = drop.write_day(drop.as_of, kinds=["water", "power"])
    (bad,) = drop.write_day(drop.as_of, kinds=["gas"], faults={"gas": "wrong_checksum"})
    rows = sum(json.loads(p.with_name(p.name + ".manifest.json").read_text())["rows"] for p in good)
    run = dagbag.get_dag("utility_ingest").test()
    assert {ti.task_id: str(ti.state) for ti in run.get_task_instances()} == {
        "ingest_files": "success"
    }
    eng = make_engine(url)
    with session_factory(eng)() as s:
        stored = s.scalar(select(func.count()).select_from(UtilityReading))
    eng.dispose()
    assert stored == rows
    assert list(cfg.inbox.iterdir()) == []
    reason = json.loads((cfg.rejected / f"{bad.name}.reason.json").read_text())
    assert reason["reason_code"] == "file.checksum_mismatch"
