"""MQTT devices end to end against a real Mosquitto: QoS 1, persistent sessions, restarts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import Quarantine
from canonical_model.store import transaction
from device_bridge import ack
from simulators.devices import MqttGateway, SimDevice
from tests.device_bridge.harness import (
    BUILDING,
    Mosquitto,
    counter,
    events_of,
    fast_config,
    register,
    running_bridge,
    spec,
    tasks_of,
    wait_for,
)
from workflow import Relay, accept

pytestmark = pytest.mark.integration

DEVICES = [
    spec("FDM1", "fall_detector", "mqtt"),
    spec("FDM2", "fall_detector", "mqtt"),
    spec("FDM3", "smoke_alarm", "mqtt"),
    spec("HBM1", "health_bracelet", "mqtt"),
]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    running = Mosquitto(tmp_path)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def devices(broker: Mosquitto) -> Iterator[MqttGateway]:
    gateway = MqttGateway(
        [SimDevice(s) for s in DEVICES], port=broker.port, client_id=f"sim-{broker.port}"
    )
    gateway.start()
    assert gateway.connected.wait(10)
    yield gateway
    gateway.stop()


def test_mqtt_alarms_survive_a_broker_restart_and_a_bridge_restart(
    broker: Mosquitto, devices: MqttGateway, store: sessionmaker[Session]
) -> None:
    register(store, DEVICES, {})
    config = fast_config([], mqtt_port=broker.port)
    with running_bridge(config, store) as rb:
        wait_for(lambda: rb.bridge.connected("mqtt"), 10, "bridge on the broker")
        first = devices.raise_alarm("FDM1")
        devices.telemetry("HBM1", {"heart_rate": 71.0, "spo2": 97.0})
        devices.publish(devices.topic("HBM1", "telemetry"), b"{not json")
        wait_for(lambda: events_of(store, "FDM1"), 10, "live alarm")

        broker.stop()  # the broker goes away; a device raises an alarm meanwhile
        wait_for(lambda: not rb.bridge.connected("mqtt"), 10, "bridge notices")
        second = devices.raise_alarm("FDM2")  # paho keeps it until the broker is back
        broker.start()
        wait_for(lambda: events_of(store, "FDM2"), 20, "alarm raised while the broker was down")
    # the bridge is away now; the broker queues for its persistent session, and restarts.
    # Alarms are retained (a fresh session would see them too); telemetry is not, so the
    # low battery below can only arrive through the session the broker kept for the bridge.
    third = devices.raise_alarm("FDM3")
    devices.telemetry("HBM1", {"battery": 4.0}).wait_for_publish(5)
    broker.stop()
    broker.start()
    with running_bridge(config, store) as rb:
        wait_for(lambda: events_of(store, "FDM3"), 20, "alarm queued while the bridge was away")
        wait_for(lambda: events_of(store, "HBM1"), 10, "telemetry queued in the session")
        [event] = events_of(store, "FDM1")
        [task] = tasks_of(store, event)
        assert task.assignee is not None
        with transaction(store) as s:
            accept(s, task.uid, actor=task.assignee)
        assert Relay({"device_gateway": ack.deliver}).run_once(store).delivered == 1
        wait_for(lambda: devices.devices["FDM1"].acks, 10, "command reached the device")
    refs = {d: [e.source_ref for e in events_of(store, d)] for d in ("FDM1", "FDM2", "FDM3")}
    assert {d: [counter(r) for r in found] for d, found in refs.items()} == {
        "FDM1": [first],
        "FDM2": [second],
        "FDM3": [third],
    }
    assert all(r.startswith(f"mqtt/{BUILDING}/{d}/alarm/") for d, (r,) in refs.items())
    assert events_of(store, "FDM3")[0].type == "device.smoke"
    assert [e.type for e in events_of(store, "HBM1")] == ["device.low_battery"]
    assert devices.devices["FDM1"].acks == [(first, "cleared")]
    assert devices.devices["FDM1"].values["alarm_active"] is False
    with store() as s:
        codes = {(q.source_key, q.reason_code) for q in s.scalars(select(Quarantine))}
    assert ("mqtt/HBM1", "message.bad_json") in codes
