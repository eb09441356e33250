"""Closing the loop: a task accepted or completed acknowledges the alarm on the device,
through the workflow outbox, and a gateway that is down only delays it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import Outbox, OutboxState, utcnow
from canonical_model.store import transaction
from device_bridge import ack
from tests.device_bridge.conftest import REGISTERED, Gateways
from tests.device_bridge.harness import (
    events_of,
    fast_config,
    register,
    running_bridge,
    tasks_of,
    wait_for,
)
from workflow import Relay, accept, complete, start

pytestmark = pytest.mark.integration


def _alarm_task(
    gw: Gateways, store: sessionmaker[Session], which: str, device: str
) -> tuple[int, str, str]:
    server = gw.gw1 if which == "gw01" else gw.gw2
    episode = gw.run(server.raise_alarm(device))
    [event] = wait_for(lambda: events_of(store, device), 10, "alarm event")
    [task] = wait_for(lambda: tasks_of(store, event), 5, "task")
    assert task.assignee is not None
    return episode, task.uid, task.assignee


def _outbox(store: sessionmaker[Session]) -> list[Outbox]:
    with store() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


def test_accepting_the_task_acknowledges_the_alarm_on_the_gateway(
    gw: Gateways, store: sessionmaker[Session]
) -> None:
    register(store, REGISTERED, {})
    with running_bridge(fast_config(gw.endpoints()), store) as rb:
        rb.wait_connected("gw01")
        episode, uid, worker = _alarm_task(gw, store, "gw01", "FD03")
        assert gw.gw1.devices["FD03"].values["alarm_active"] is True
        with transaction(store) as s:
            accept(s, uid, actor=worker)
        [message] = _outbox(store)
        assert message.destination == "device_gateway"
        assert f"/FD03/alarm/{episode}-" in message.payload["request_ref"]
        report = Relay({"device_gateway": ack.deliver}).run_once(store)
        assert report.delivered == 1
        device = gw.gw1.devices["FD03"]
        assert device.values["alarm_active"] is False
        assert device.acks == [(episode, "cleared")]
        with transaction(store) as s:  # completion acknowledges again: harmless
            start(s, uid, actor=worker)
            complete(s, uid, actor=worker, result="resolved")
        assert Relay({"device_gateway": ack.deliver}).run_once(store).delivered == 1
        assert device.acks[-1] == (episode, "already_clear")
        # the bridge saw the latch open and raised nothing more
        wait_for(lambda: rb.bridge.pipeline.detector.track("FD03").alarm_active is False, 5)
    assert len(events_of(store, "FD03")) == 1
    assert {m.state for m in _outbox(store)} == {OutboxState.DELIVERED}


def test_with_the_gateway_down_the_acknowledgement_waits_and_is_delivered_later(
    gw: Gateways, store: sessionmaker[Session]
) -> None:
    register(store, REGISTERED, {})
    with running_bridge(fast_config(gw.endpoints()), store) as rb:
        rb.wait_connected("gw02")
        episode, uid, worker = _alarm_task(gw, store, "gw02", "FD22")
        gw.run(gw.gw2.stop())
        with transaction(store) as s:
            accept(s, uid, actor=worker)
        relay = Relay({"device_gateway": ack.deliver})
        assert relay.run_once(store).retried == 1
        [message] = _outbox(store)
        assert message.state == OutboxState.PENDING
        assert message.attempts == 1
        assert "unreachable" in (message.last_error or "")
        assert gw.gw2.devices["FD22"].values["alarm_active"] is True  # still latched, not lost
        gw.run(gw.gw2.start())
        later = utcnow() + timedelta(minutes=5)
        assert relay.run_once(store, now=later).delivered == 1
        rb.wait_connected("gw02")
    assert gw.gw2.devices["FD22"].acks == [(episode, "cleared")]
    assert gw.gw2.devices["FD22"].values["alarm_active"] is False
    assert [m.state for m in _outbox(store)] == [OutboxState.DELIVERED]


def test_the_bridge_relays_acknowledgements_itself_within_a_second(
    gw: Gateways, store: sessionmaker[Session]
) -> None:
    register(store, REGISTERED, {})
    config = fast_config(gw.endpoints(), relay_interval_s=0.2)
    with running_bridge(config, store) as rb:
        rb.wait_connected("gw01")
        episode, uid, worker = _alarm_task(gw, store, "gw01", "GA01")
        with transaction(store) as s:
            accept(s, uid, actor=worker)
        wait_for(lambda: gw.gw1.devices["GA01"].acks, 5, "acknowledged by the bridge's relay")
        metrics = rb.bridge.metrics
        wait_for(lambda: metrics.acks.labels("cleared")._value.get() == 1, 5, "ack counted")
        latency = metrics.registry.get_sample_value("device_bridge_ack_latency_seconds_sum")
    assert gw.gw1.devices["GA01"].acks == [(episode, "cleared")]
    assert latency is not None
    assert latency < 5
