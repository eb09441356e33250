"""The relay: retries with backoff, dead after the budget, nothing lost while a source is down."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import Outbox, OutboxState, Task
from canonical_model.store import transaction
from tests.workflow.district import BUILDING1, T0, seed
from workflow import Relay, accept, complete, default_rules, delivery_status, publish_event, start


class Hotline:
    """A write-back endpoint that is down for the first ``down`` calls; dedupes by key."""

    def __init__(self, down: int = 0) -> None:
        self.down = down
        self.calls = 0
        self.received: dict[str, dict[str, Any]] = {}

    def __call__(self, payload: dict[str, Any], key: str) -> None:
        self.calls += 1
        if self.calls <= self.down:
            raise ConnectionError("hotline gateway unreachable")
        self.received[key] = payload


def _hotline_task(sessions: sessionmaker[Session], reports: int = 1) -> str:
    with transaction(sessions) as s:
        for k in range(reports):
            published = publish_event(
                s,
                type="hotline.work_order",
                occurred_at=T0,
                source="hotline",
                source_ref=f"GD{k}",
                grid_code=BUILDING1,
                dedup_key="漏水@b1",
                payload={"category": "漏水"},
                rules=default_rules(),
                now=T0,
            )
        uid = published.tasks[0].uid
        worker = published.tasks[0].assignee or ""
        accept(s, uid, actor=worker, now=T0)
        start(s, uid, actor=worker, now=T0)
        complete(s, uid, actor=worker, result="resolved", now=T0)
    return uid


def test_every_report_gets_its_reply_in_order(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    _hotline_task(sessions, reports=3)
    hotline = Hotline()
    report = Relay({"hotline": hotline}).run_once(sessions, now=T0)
    assert report.delivered == 6  # 3 callers × (status update, completion)
    order = [(p["request_ref"], p["operation"]) for p in hotline.received.values()]
    for k in range(3):  # each caller hears "accepted" before "completed"
        assert order.index((f"GD{k}", "status_update")) < order.index((f"GD{k}", "completion"))
    assert Relay({"hotline": hotline}).run_once(sessions, now=T0).delivered == 0


def test_a_source_that_is_down_delays_delivery_and_loses_nothing(
    sessions: sessionmaker[Session],
) -> None:
    seed(sessions)
    uid = _hotline_task(sessions)
    hotline = Hotline(down=3)
    relay = Relay({"hotline": hotline}, base_delay=timedelta(seconds=30), max_attempts=5)
    now = T0
    waits = []
    for _ in range(3):
        report = relay.run_once(sessions, now=now)
        assert report.retried == 1
        assert report.delivered == 0
        with sessions() as s:
            msg = s.scalars(select(Outbox).order_by(Outbox.id)).first()
            assert msg is not None
            assert msg.state == OutboxState.PENDING
            assert msg.last_error == "ConnectionError: hotline gateway unreachable"
            waits.append(msg.next_attempt_at - now)
        assert relay.run_once(sessions, now=now).retried == 0  # not due yet: no hammering
        now = msg.next_attempt_at
    assert waits == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    assert relay.run_once(sessions, now=now).delivered == 2  # status update, then completion
    assert len(hotline.received) == 2
    assert hotline.calls == 5
    assert relay.run_once(sessions, now=now + timedelta(days=1)).delivered == 0  # once only
    with sessions() as s:
        task = s.scalars(select(Task).where(Task.uid == uid)).one()
        states = [(d.operation, d.state, d.attempts) for d in delivery_status(s, task.id)]
    assert states == [("status_update", "delivered", 4), ("completion", "delivered", 1)]


def test_dead_after_the_budget_and_visible_on_the_task(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    uid = _hotline_task(sessions)
    relay = Relay({"hotline": Hotline(down=10**6)}, max_attempts=3, base_delay=timedelta(0))
    outcomes = [relay.run_once(sessions, now=T0 + timedelta(minutes=k)) for k in range(8)]
    assert sum(o.dead for o in outcomes) == 2  # both messages, each after 3 attempts
    with sessions() as s:
        task = s.scalars(select(Task).where(Task.uid == uid)).one()
        assert [(d.state, d.attempts) for d in delivery_status(s, task.id)] == [
            ("dead", 3),
            ("dead", 3),
        ]


def test_a_missing_handler_leaves_the_message_pending_with_the_reason(
    sessions: sessionmaker[Session],
) -> None:
    seed(sessions)
    _hotline_task(sessions)
    report = Relay({}).run_once(sessions, now=T0)
    assert report.no_handler == 1
    with sessions() as s:
        msg = s.scalars(select(Outbox).order_by(Outbox.id)).first()
        assert msg is not None
        assert (msg.state, msg.attempts) == (OutboxState.PENDING, 0)
        assert msg.last_error == "no handler for destination 'hotline'"
    hotline = Hotline()
    relay = Relay({"hotline": hotline})
    later = T0 + timedelta(minutes=5)
    assert relay.run_once(sessions, now=later).delivered == 2
