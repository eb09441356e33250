"""The simulated device estate: who gets which device, the latch, and a real OPC UA gateway."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import pytest
from asyncua import ua
from asyncua.client.client import Client

from simulators.devices import (
    NAMESPACE,
    DeviceSpec,
    GatewayServer,
    SimDevice,
    device_population,
)
from simulators.district import District


@pytest.fixture(scope="module")
def district() -> District:
    return District(1_500, 11)


def test_the_installation_policy_follows_the_district(district: District) -> None:
    specs = device_population(district, gateways=3, mqtt_share=0.25, seed=11)
    assert specs == device_population(district, gateways=3, mqtt_share=0.25, seed=11)
    kinds = Counter(s.kind for s in specs)
    households = [h for h in district.households() if h.residents]
    assert kinds["smoke_alarm"] == len(households)
    watched = [
        p for h in households for p in h.residents if {"aged_80_plus", "living_alone"} & set(p.tags)
    ]
    assert kinds["fall_detector"] == kinds["health_bracelet"] == len(watched)
    alone_homes = [h for h in households if any("living_alone" in p.tags for p in h.residents)]
    assert kinds["door_contact"] == len(alone_homes)
    assert 0 < kinds["gas_alarm"] < len(households)
    assert len({s.device_id for s in specs}) == len(specs)
    assert all(s.device_id.isalnum() and len(s.device_id) <= 64 for s in specs)
    gateways = {s.gateway for s in specs}
    assert gateways <= {"gw01", "gw02", "gw03", "mqtt"}
    assert "mqtt" in gateways
    by_building: dict[str, set[str]] = {}
    for s in specs:
        by_building.setdefault(s.building_code, set()).add(s.gateway)
    assert all(len(g) == 1 for g in by_building.values())  # a building has one gateway
    assert len(device_population(district, limit=10)) == 10


def _device(kind: str = "fall_detector") -> SimDevice:
    return SimDevice(DeviceSpec("FD1", kind, "gw01", "opcua", "330106001001001001", None, 60, True))


def test_the_latch_holds_its_episode_until_that_episode_is_acknowledged() -> None:
    device, now = _device(), datetime.now(UTC)
    new, changes = device.raise_alarm(None, now)
    assert new
    assert list(changes) == [
        "fall",
        "alarm_kind",
        "alarm_since",
        "alarm_episode",
        "alarm_active",
    ]
    assert device.raise_alarm(None, now) == (False, {"fall": True})  # same emergency
    assert device.acknowledge(7, now)[0] == "stale_episode"
    assert device.values["alarm_active"] is True
    assert device.acknowledge(1, now)[0] == "cleared"
    assert device.acknowledge(1, now)[0] == "already_clear"
    assert device.raise_alarm("fall", now)[1]["alarm_episode"] == 2


@pytest.mark.integration
def test_a_gateway_serves_its_devices_and_survives_a_restart_with_its_state() -> None:
    async def scenario() -> None:
        devices = [
            _device(),
            SimDevice(
                DeviceSpec(
                    "HB1", "health_bracelet", "gw01", "opcua", "330106001001001001", None, 60, True
                )
            ),
        ]
        gateway = GatewayServer("gw01", devices)
        await gateway.start()
        try:
            client = Client(gateway.endpoint)
            await client.connect()
            ns = await client.get_namespace_index(NAMESPACE)
            folder = await client.nodes.objects.get_child(f"{ns}:Devices")
            found = await folder.get_children_descriptions(nodeclassmask=ua.NodeClass.Object)
            assert sorted(str(d.BrowseName.Name) for d in found) == ["FD1", "HB1"]
            hb = await folder.get_child(f"{ns}:HB1")
            children = {str(c.BrowseName.Name) for c in await hb.get_children_descriptions()}
            assert {
                "DeviceType",
                "HeartRate",
                "SpO2",
                "Status",
                "Battery",
                "LastSeen",
                "AlarmActive",
                "AlarmEpisode",
                "AlarmKind",
                "AlarmSince",
                "Acknowledge",
            } <= children
            assert await (await hb.get_child(f"{ns}:DeviceType")).read_value() == "health_bracelet"
            sub = await client.create_subscription(50, None)
            etype = await client.nodes.base_event_type.get_child(f"{ns}:DeviceAlarmEventType")
            await sub.subscribe_events(client.nodes.server, etype)
            episode = await gateway.raise_alarm("FD1")
            await gateway.raise_alarm("FD1")  # latched: no second event
            first = await sub.next_event(5)
            assert first is not None
            assert first.event.Episode == episode
            assert await sub.next_event(0.5) is None
            await client.disconnect()

            await gateway.stop()
            with pytest.raises(OSError):
                await Client(gateway.endpoint, timeout=1).connect()
            await gateway.start()
            client = Client(gateway.endpoint)
            await client.connect()
            fd = await client.nodes.objects.get_child([f"{ns}:Devices", f"{ns}:FD1"])
            active = await fd.get_child(f"{ns}:AlarmActive")
            assert await active.read_value() is True  # the latch outlived the restart
            answer = await fd.call_method(
                f"{ns}:Acknowledge", ua.Variant(episode, ua.VariantType.UInt32)
            )
            assert answer == "cleared"
            assert await active.read_value() is False
            await client.disconnect()
        finally:
            await gateway.close()

    asyncio.run(scenario())
