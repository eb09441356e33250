"""The bridge's judgement without servers: validation, detection, flood control, references."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model.devices import Device
from canonical_model.store import transaction
from device_bridge import ack
from device_bridge.config import BridgeConfig, OpcUaGateway, Thresholds
from device_bridge.detect import Detector
from device_bridge.flood import FloodGate
from device_bridge.model import BadValue, Detection, DeviceRef, Reading
from device_bridge.mqtt import parse_message
from device_bridge.registry import DeviceInfo, flush_seen, load_devices, register_devices
from device_bridge.validate import Invalid, check
from device_bridge.writer import DetectionQueue
from tests.device_bridge.harness import BUILDING, ELDER

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def info(kind: str = "fall_detector", **overrides: Any) -> DeviceInfo:
    values: dict[str, Any] = {
        "pk": 1,
        "device_id": "D1",
        "kind": kind,
        "gateway": "gw01",
        "protocol": "opcua",
        "building_code": BUILDING,
        "address_id": None,
        "person_id": 7,
        "living_alone": True,
        "heartbeat_s": 60,
        "thresholds": {},
        "last_seen": None,
        "last_activity": None,
        "installed_at": T0,
    }
    values.update(overrides)
    return DeviceInfo(**values)


@pytest.mark.parametrize(
    ("point", "value", "expected"),
    [
        pytest.param("heart_rate", 72, 72.0, id="int heart rate is a number"),
        pytest.param("heart_rate", True, "reading.wrong_type", id="bool is not a number"),
        pytest.param("heart_rate", "72", "reading.wrong_type", id="text is not a number"),
        pytest.param("heart_rate", 900.0, "reading.out_of_range", id="impossible heart rate"),
        pytest.param("spo2", math.nan, "reading.out_of_range", id="NaN"),
        pytest.param("fall", 1, "reading.wrong_type", id="1 is not a boolean"),
        pytest.param("status", "exploded", "reading.out_of_range", id="status vocabulary"),
        pytest.param("alarm_episode", 3.5, "reading.wrong_type", id="episode is whole"),
        pytest.param("last_seen", "2026-03-02T01:00:00", "reading.wrong_type", id="naive text"),
        pytest.param("last_seen", "2026-03-02T01:00:00+08:00", T0 - timedelta(hours=8), id="tz"),
        pytest.param("door_open", BadValue("BadSensorFailure"), "reading.bad_status", id="bad"),
        pytest.param("colour", 1, "reading.unknown_point", id="unknown point"),
    ],
)
def test_validation(point: str, value: Any, expected: Any) -> None:
    result = check(point, value)
    if isinstance(result, Invalid):
        assert result.code == expected
        assert str(value) not in result.reason or isinstance(value, bool)
    else:
        assert result == expected


def test_an_alarm_episode_is_raised_once_however_often_it_is_seen() -> None:
    detector = Detector(Thresholds())
    fd = info()
    state = [("alarm_kind", "fall", T0), ("alarm_episode", 4, T0), ("alarm_active", True, T0)]
    [det] = detector.apply(fd, state, T0)
    assert detector.apply(fd, state, T0) == []  # the event notification, then the resync
    assert (det.event_type, det.severity, str(det.ref)) == (
        "device.fall",
        "emergency",
        f"gw01/{BUILDING}/D1/alarm/4",
    )
    assert detector.apply(fd, [("alarm_active", False, T0)], T0) == []
    [again] = detector.apply(fd, [("alarm_episode", 5, T0), ("alarm_active", True, T0)], T0)
    # a device reset counts from 1 again: the time the latch closed keeps it a new episode
    reset = [("alarm_since", T0, T0), ("alarm_episode", 4, T0), ("alarm_active", True, T0)]
    [fresh] = detector.apply(fd, reset, T0)
    assert fresh.ref.episode == f"4-{int(T0.timestamp())}"
    assert detector.apply(fd, reset, T0) == []
    assert again.ref.episode == "5"
    assert again.dedup_key == det.dedup_key


def test_a_latch_without_its_episode_number_waits_for_it() -> None:
    detector = Detector(Thresholds())
    assert detector.apply(info(), [("alarm_active", True, T0)], T0) == []
    assert len(detector.apply(info(), [("alarm_episode", 1, T0)], T0)) == 1


def test_a_heart_rate_on_the_limit_is_one_alert_after_it_is_sustained() -> None:
    detector = Detector(Thresholds(sustain_s=300, recover_s=60))
    hb = info("health_bracelet", heartbeat_s=3600)
    found: list[Detection] = []
    for second in range(0, 600, 10):  # bounces across 130 every 10 s for ten minutes
        hr = 135.0 if second % 20 == 0 else 128.0
        at = T0 + timedelta(seconds=second)
        found += detector.apply(hb, [("heart_rate", hr, at)], at)
    assert [d.event_type for d in found] == ["device.health_alert"]
    assert found[0].occurred_at == T0
    assert found[0].payload["vital"] == "heart_rate"
    # back in range for longer than recover_s ends the episode; a new one is a new alert
    later = T0 + timedelta(seconds=600)
    detector.apply(hb, [("heart_rate", 80.0, later)], later)
    back = later + timedelta(seconds=61)
    detector.apply(hb, [("heart_rate", 80.0, back)], back)
    out = back + timedelta(seconds=1)
    assert detector.apply(hb, [("spo2", 85.0, out)], out) == []
    due = out + timedelta(seconds=301)
    [low] = detector.tick([hb], due, lambda _g: T0)
    assert low.payload["vital"] == "spo2"


def test_no_door_activity_for_a_day_at_the_home_of_someone_living_alone() -> None:
    detector = Detector(Thresholds())
    door = info("door_contact", heartbeat_s=600)
    detector.apply(door, [("door_open", True, T0), ("last_seen", T0, T0)], T0)
    seen = T0
    for hour in range(1, 25):  # heartbeats keep coming; the door does not move
        seen = T0 + timedelta(hours=hour)
        detector.apply(door, [("last_seen", seen, seen), ("door_open", True, seen)], seen)
    [welfare] = detector.tick([door], seen + timedelta(minutes=1), lambda _g: T0)
    assert welfare.event_type == "device.no_activity"
    assert welfare.severity == "high"
    assert detector.tick([door], seen + timedelta(minutes=10), lambda _g: T0) == []
    not_alone = info("door_contact", device_id="D2", living_alone=False, heartbeat_s=600)
    detector.apply(not_alone, [("door_open", True, T0), ("last_seen", seen, seen)], T0)
    assert detector.tick([not_alone], seen + timedelta(minutes=1), lambda _g: T0) == []


def test_silence_counts_only_while_the_gateway_is_reachable() -> None:
    detector = Detector(Thresholds(silent_heartbeats=2))
    fd = info(heartbeat_s=60)
    detector.apply(fd, [("last_seen", T0, T0)], T0)
    late = T0 + timedelta(minutes=5)
    assert detector.tick([fd], late, lambda _g: None) == []  # gateway down: its event, not ours
    assert detector.tick([fd], late, lambda _g: late - timedelta(seconds=30)) == []  # just back
    [silent] = detector.tick([fd], late, lambda _g: T0)
    assert silent.event_type == "device.silent"
    assert silent.occurred_at == T0 + timedelta(minutes=2)
    assert detector.tick([fd], late + timedelta(minutes=5), lambda _g: T0) == []


def test_flood_control_coalesces_and_never_holds_an_alarm() -> None:
    gate = FloodGate(device_rate=1.0, device_burst=2.0, gateway_rate=100.0, gateway_burst=100.0)
    batch = [Reading("battery", 50.0, T0)]
    assert gate.admit("gw", "D1", batch, 0.0) == batch
    assert gate.admit("gw", "D1", batch, 0.0) == batch
    for value in (40.0, 30.0, 20.0):
        assert gate.admit("gw", "D1", [Reading("battery", value, T0)], 0.0) is None
    assert gate.coalesced == 2
    assert gate.held == 1
    alarm = gate.admit("gw", "D1", [Reading("alarm_active", True, T0)], 0.0)
    assert alarm is not None
    assert {r.point for r in alarm} == {"battery", "alarm_active"}
    assert [r.value for r in alarm if r.point == "battery"] == [20.0]  # the newest value won
    gate.admit("gw", "D1", [Reading("battery", 10.0, T0)], 0.0)
    assert gate.release(0.1) == []
    [(gateway, device, readings)] = gate.release(1.5)
    assert (gateway, device, readings[0].value) == ("gw", "D1", 10.0)


def test_a_waiting_alarm_is_replaced_by_the_newer_episode_of_the_same_device() -> None:
    async def scenario() -> list[str]:
        queue = DetectionQueue()
        detector = Detector(Thresholds())
        for episode in (1, 2, 3):
            for det in detector.apply(
                info(), [("alarm_episode", episode, T0), ("alarm_active", True, T0)], T0
            ):
                queue.put(det)
        silent = detector.tick(
            [info(device_id="D9", heartbeat_s=1)], T0 + timedelta(hours=1), lambda _g: T0
        )
        queue.put(silent[0])
        return [str((await queue.get()).detection.ref) for _ in range(len(queue))]

    refs = asyncio.run(scenario())
    assert refs == [f"gw01/{BUILDING}/D1/alarm/3", refs[1]]
    assert "/D9/silent/" in refs[1]


def test_device_references_round_trip_and_refuse_anything_else() -> None:
    ref = DeviceRef("gw01", BUILDING, "FD01", "alarm", "12")
    assert DeviceRef.parse(str(ref)) == ref
    for bad in ("", "a/b/c", "gw/b/d/opinion/1", "gw//d/alarm/1"):
        with pytest.raises(ValueError, match="device reference"):
            DeviceRef.parse(bad)


def test_mqtt_messages_are_parsed_or_refused_with_a_reason() -> None:
    ok = parse_message(
        "gridhub",
        f"gridhub/{BUILDING}/FD1/alarm",
        b'{"ts": "2026-03-02T01:00:00Z", "kind": "fall", "episode": 2, "active": true}',
    )
    assert not isinstance(ok, Invalid)
    assert {r.point: r.value for r in ok[2]}["alarm_episode"] == 2
    cases = {
        "gridhub/x/y": b"{}",
        f"gridhub/{BUILDING}/FD1/telemetry": b"[1, 2]",
        f"gridhub/{BUILDING}/FD1/alarm": b'{"ts": "2026-03-02T01:00:00Z", "kind": "fall"}',
        f"gridhub/{BUILDING}/FD 1/telemetry": b"{}",
    }
    codes = [parse_message("gridhub", t, p) for t, p in cases.items()]
    assert [c.code for c in codes if isinstance(c, Invalid)] == [
        "message.bad_topic",
        "message.bad_json",
        "message.incomplete",
        "message.bad_topic",
    ]


def test_deliver_ignores_what_is_not_a_latched_alarm_and_needs_configuration() -> None:
    ack.configure(None)
    silent = {"request_ref": f"gw01/{BUILDING}/FD1/silent/1", "state": "accepted"}
    ack.deliver(silent, "k1")  # nothing latched: delivered as a no-op
    pending = {"request_ref": f"gw01/{BUILDING}/FD1/alarm/1", "state": "pending"}
    ack.deliver(pending, "k2")
    with pytest.raises(ack.AckNotConfigured):
        ack.deliver({**pending, "state": "accepted"}, "k3")
    ack.configure(BridgeConfig(gateways=(OpcUaGateway(id="gw02", endpoint="opc.tcp://x:1"),)))
    try:
        with pytest.raises(ack.AckNotConfigured, match="gw01"):
            ack.deliver({**pending, "state": "accepted"}, "k4")
        with pytest.raises(ValueError, match="device reference"):
            ack.deliver({"request_ref": "12345-ORDER", "state": "accepted"}, "k5")
    finally:
        ack.configure(None)


def test_thresholds_from_the_registry_override_the_defaults() -> None:
    merged = Thresholds().merged({"heart_rate_high": 110, "unknown": 1})
    assert merged.heart_rate_high == 110
    assert merged.heart_rate_low == 40


def test_registration_links_people_by_resident_id_and_refuses_bad_rows(
    store: sessionmaker[Session],
) -> None:
    rows = [
        {
            "device_id": "FD9",
            "kind": "fall_detector",
            "gateway": "gw01",
            "building_code": BUILDING,
            "resident_id": ELDER,
            "heartbeat_s": 60,
        },
        {
            "device_id": "FD8",
            "kind": "fall_detector",
            "gateway": "gw01",
            "building_code": "330106999999999999",
            "resident_id": "110101190001010000",
        },
        {"device_id": "bad/id", "kind": "fall_detector", "gateway": "gw01"},
        {"device_id": "TV1", "kind": "television", "gateway": "gw01"},
    ]
    with transaction(store) as s:
        report = register_devices(s, rows)
    assert report.as_dict() == {"inserted": 2, "updated": 0, "refused": 2, "unlinked": 1}
    assert all("bad/id" not in r for r in report.refused)
    with transaction(store) as s:
        again = register_devices(s, rows[:1])
        devices = load_devices(s)
    assert again.updated == 1
    assert devices["FD9"].person_id is not None
    assert devices["FD9"].living_alone
    assert devices["FD8"].building_code is None
    assert devices["FD8"].person_id is None
    seen = T0 + timedelta(minutes=3)
    with transaction(store) as s:
        assert flush_seen(s, {devices["FD9"].pk: (seen, None)}) == 1
    with store() as s:
        row = s.scalars(select(Device).where(Device.device_id == "FD9")).one()
        assert row.last_seen_at == seen
        assert row.last_activity_at is None
        assert load_devices(s, since=row.updated_at) == {}  # a heartbeat is not a change
