"""The workflow DAGs run through Airflow's dag.test() against a real (SQLite) store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from canonical_model import Outbox, OutboxState, Task
from canonical_model.roster import TaskDailyStats
from canonical_model.store import make_engine, session_factory, transaction, upgrade
from gridhub.settings import get_settings
from gridhub.wiring import engine as wired_engine
from tests.workflow.district import BUILDING1, seed
from workflow import accept, complete, default_rules, publish_event, start


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    eng = make_engine(url)
    upgrade(eng)
    sessions = session_factory(eng)
    seed(sessions)
    past = datetime.now(UTC) - timedelta(hours=3)
    with transaction(sessions) as s:
        for ref in ("alarm-1", "GD-1"):
            source = "device_gateway" if ref.startswith("alarm") else "hotline"
            publish_event(
                s,
                type="device.smoke" if source == "device_gateway" else "hotline.work_order",
                severity="emergency",
                occurred_at=past,
                source=source,
                source_ref=ref,
                grid_code=BUILDING1,
                payload={"category": "漏水"},
                rules=default_rules(),
                now=past,
            )
        reply = s.scalars(select(Task).where(Task.requester_source == "hotline")).one()
        worker = reply.assignee or ""
        accept(s, reply.uid, actor=worker, now=past)
        start(s, reply.uid, actor=worker, now=past)
        complete(s, reply.uid, actor=worker, result="resolved", now=past)
    eng.dispose()
    monkeypatch.setenv("GRIDHUB_DATABASE_URL", url)
    get_settings.cache_clear()
    wired_engine.cache_clear()
    yield url
    get_settings.cache_clear()
    wired_engine.cache_clear()


def _run(dagbag: Any, dag_id: str) -> dict[str, str]:
    run = dagbag.get_dag(dag_id).test()
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_workflow_dags_run_their_jobs(dagbag: Any, store: str) -> None:
    assert dagbag.import_errors == {}
    assert _run(dagbag, "task_sla_watch") == {
        "produce_events": "success",
        "dispatch_queued": "success",
        "watch_slas": "success",
    }
    assert _run(dagbag, "feedback_delivery") == {"relay_once": "success"}
    assert _run(dagbag, "daily_stats") == {"refresh": "success"}
    sessions = session_factory(make_engine(store))
    with sessions() as s:
        alarm = s.scalars(select(Task).where(Task.requester_ref == "alarm-1")).one()
        assert alarm.escalation_level == 1  # 3 h past a 2 h limit
        first = s.scalars(select(Outbox).order_by(Outbox.id)).first()
        assert first is not None
        # delivered if a hotline write-back is installed, else pending with the reason
        assert first.state == OutboxState.DELIVERED or first.last_error is not None
        assert s.scalar(select(func.count()).select_from(TaskDailyStats)) > 0
