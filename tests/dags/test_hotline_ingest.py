"""The hotline_ingest DAG pulls work orders from a real Tansu broker, through dag.test()."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.hotline import HotlineConfig
from canonical_model.store import make_engine, session_factory, upgrade
from gridhub.settings import get_settings
from gridhub.wiring import engine as wired_engine
from simulators.kafka_broker import KafkaBroker
from tests.adapters.hotline.helpers import fresh_config, make_orders, offsets, publish, stored_keys

pytestmark = pytest.mark.integration


@pytest.fixture
def hotline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HotlineConfig]:
    """A broker with orders on it, and settings pointing the hub at it (and at a new store)."""
    with KafkaBroker(tmp_path / "broker") as broker:
        config = fresh_config(broker)
        monkeypatch.setenv("GRIDHUB_DATABASE_URL", f"sqlite:///{tmp_path / 'hub.db'}")
        for field in ("bootstrap_servers", "topic", "reply_topic"):
            monkeypatch.setenv(f"GRIDHUB_HOTLINE__{field.upper()}", getattr(config, field))
        get_settings.cache_clear()
        wired_engine.cache_clear()
        try:
            yield config
        finally:
            get_settings.cache_clear()
            wired_engine.cache_clear()


def test_hotline_ingest_stores_the_orders_on_the_topic(dagbag: Any, hotline: HotlineConfig) -> None:
    url = get_settings().effective_database_url
    upgrade(make_engine(url))
    orders = make_orders(250)
    publish(hotline, orders, GD20241019000001="wrong_schema")
    run = dagbag.get_dag("hotline_ingest").test()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == {"sync_work_orders": "success"}
    sessions = session_factory(make_engine(url))
    assert sorted(stored_keys(sessions)) == sorted(o.order_no for o in orders)
    assert sum(offsets(sessions).values()) == 251  # the poison message's offset too


def test_the_dag_runs_every_five_minutes_one_run_at_a_time(dagbag: Any) -> None:
    dag = dagbag.get_dag("hotline_ingest")
    assert dag.max_active_runs == 1
    assert [t.task_id for t in dag.tasks] == ["sync_work_orders"]
