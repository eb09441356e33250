"""The closed loop for the 12345 hotline: a task's accept and completion reach the hotline's
reply topic through the outbox and the relay, once each, over a real Kafka-protocol broker."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.civil_affairs import CivilAffairsConfig
from adapters.civil_affairs.writeback import CivilAffairsWriteback
from adapters.hotline.writeback import InvalidReply
from canonical_model import Outbox, OutboxState, Task, TaskState
from canonical_model.store import make_engine, session_factory, transaction, upgrade
from gridhub.jobs.workflow import relay_once
from gridhub.settings import get_settings
from gridhub.wiring import engine as wired_engine
from gridhub.writeback import hotline_reply
from simulators.civil_affairs.database import SqliteDatabase
from simulators.hotline.feed import ReplyInbox
from simulators.kafka_broker import KafkaBroker
from tests.adapters.hotline.helpers import fresh_config
from workflow.lifecycle import accept, complete, start

AT = "2026-11-22T09:30:00+08:00"


@pytest.mark.parametrize(
    ("message", "status", "result"),
    [
        pytest.param(
            {"operation": "status_update", "state": "accepted"}, "accepted", None, id="accepted"
        ),
        pytest.param(
            {
                "operation": "completion",
                "state": "completed",
                "result": "已修复",
                "notes": "更换阀门",
            },
            "completed",
            "已修复：更换阀门",
            id="completion-with-notes",
        ),
        pytest.param(
            {"operation": "status_update", "state": "in_progress"}, "in_progress", None, id="start"
        ),
    ],
)
def test_hotline_reply_translates_the_workflow_message(
    message: dict[str, str], status: str, result: str | None
) -> None:
    reply = hotline_reply(
        {**message, "request_ref": "GD20261122000001", "at": AT, "task": "T1", "handled_by": "W1"}
    )
    assert (reply["order_no"], reply["status"], reply["result"]) == (
        "GD20261122000001",
        status,
        result,
    )
    assert (reply["task_id"], reply["handler"]) == ("T1", "W1")


def test_a_state_the_hotline_has_no_word_for_is_refused() -> None:
    with pytest.raises(InvalidReply):
        hotline_reply(
            {"operation": "status_update", "state": "pending", "request_ref": "GD1", "at": AT}
        )


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, ReplyInbox]]:
    with KafkaBroker(tmp_path / "broker") as broker:
        config = fresh_config(broker)
        url = f"sqlite:///{tmp_path / 'hub.db'}"
        upgrade(make_engine(url))
        monkeypatch.setenv("GRIDHUB_DATABASE_URL", url)
        for field in ("bootstrap_servers", "topic", "reply_topic"):
            monkeypatch.setenv(f"GRIDHUB_HOTLINE__{field.upper()}", getattr(config, field))
        get_settings.cache_clear()
        wired_engine.cache_clear()
        try:
            with ReplyInbox(broker.bootstrap_servers, config.reply_topic) as inbox:
                yield url, inbox
        finally:
            get_settings.cache_clear()
            wired_engine.cache_clear()


@pytest.mark.integration
def test_accept_and_completion_reach_the_hotline_once(hub: tuple[str, ReplyInbox]) -> None:
    url, inbox = hub
    sessions = session_factory(make_engine(url))
    with transaction(sessions) as s:
        task = Task(
            category="water",
            title="水管爆裂",
            state=TaskState.PENDING,
            assignee="W001",
            requester_source="hotline",
            requester_ref="GD20261122000042",
        )
        s.add(task)
    now = datetime.now(UTC)
    with transaction(sessions) as s:
        accept(s, task.uid, actor="W001", now=now)
    with transaction(sessions) as s:
        start(s, task.uid, actor="W001", now=now)
        complete(s, task.uid, actor="W001", result="resolved", notes="更换阀门", now=now)

    first = relay_once(url)
    again = relay_once(url)
    assert first["delivered"] == 2
    assert again["delivered"] == 0
    with sessions() as s:
        states = set(s.scalars(select(Outbox.state)))
    assert states == {OutboxState.DELIVERED}

    inbox.drain(expect=2, timeout=20)
    replies = inbox.by_order("GD20261122000042")
    assert sorted(r["status"] for r in replies) == ["accepted", "completed"]
    assert inbox.received == 2  # exactly once each, nothing re-sent
    completed = next(r for r in replies if r["status"] == "completed")
    assert completed["result"] == "已办结：更换阀门"
    assert completed["task_id"] == task.uid


def _visits(path: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT CAST(case_ref AS BLOB), CAST(status AS BLOB), CAST(result AS BLOB) "
            "FROM visit_record ORDER BY id"
        ).fetchall()
    return [tuple(v.decode("gb18030") if v is not None else None for v in r) for r in rows]


@pytest.mark.integration
def test_a_visit_outcome_is_written_back_to_civil_affairs_over_odbc_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = SqliteDatabase(tmp_path / "civil_affairs.db")
    source.create()
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(make_engine(url))
    monkeypatch.setenv("GRIDHUB_DATABASE_URL", url)
    monkeypatch.setenv("GRIDHUB_CIVIL_AFFAIRS__CONNECTION_STRING", source.connection_string)
    get_settings.cache_clear()
    wired_engine.cache_clear()
    try:
        sessions = session_factory(make_engine(url))
        with transaction(sessions) as s:
            task = Task(
                category="home_visit",
                title="新增低保户上门走访",
                state=TaskState.PENDING,
                assignee="W002",
                requester_source="civil_affairs",
                requester_ref="DB2026-0042/dibao",
            )
            s.add(task)
        now = datetime.now(UTC)
        with transaction(sessions) as s:
            accept(s, task.uid, actor="W002", now=now)
            start(s, task.uid, actor="W002", now=now)
            complete(s, task.uid, actor="W002", result="resolved", notes="家中无异常", now=now)
        assert relay_once(url)["delivered"] == 2
        assert relay_once(url)["delivered"] == 0
    finally:
        get_settings.cache_clear()
        wired_engine.cache_clear()
    assert _visits(source.path) == [
        ("DB2026-0042/dibao", "accepted", None),
        ("DB2026-0042/dibao", "completed", "已办结：家中无异常"),
    ]
    # A delivery repeated after a lost acknowledgement writes nothing new.
    writeback = CivilAffairsWriteback(
        CivilAffairsConfig(connection_string=source.connection_string)
    )
    try:
        visit = {"case_ref": "DB2026-0042/dibao", "status": "completed"}
        assert writeback.deliver(visit, "repeat-key") is True
        assert writeback.deliver(visit, "repeat-key") is False
    finally:
        writeback.close()
    assert len(_visits(source.path)) == 3
