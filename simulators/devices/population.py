"""Which devices the synthetic district has installed, for whom, behind which gateway.

The installation policy follows what Chinese districts fund (智慧养老 / 智慧消防): a smoke
alarm in every household; a fall detector and a health bracelet for everyone aged 80 and
over or living alone; a door contact in the home of everyone living alone (no door opened for
a day is the classic welfare signal); a gas alarm where there is piped gas (about a third of
homes here) and a water-leak sensor in a fifth of elderly homes. Buildings are grouped onto a
few gateways (a community's IoT gateway), and a share of buildings can speak MQTT instead of
OPC UA — districts have both generations installed.

The installer's list names the resident by ID number: that is how a vendor hands it over,
and how the hub links a device to the person's golden record.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from simulators.district import District, Household

__all__ = ["HEARTBEATS", "PREFIX", "DeviceSpec", "device_population"]

PREFIX = {
    "fall_detector": "FD",
    "health_bracelet": "HB",
    "door_contact": "DC",
    "smoke_alarm": "SA",
    "gas_alarm": "GA",
    "water_leak": "WL",
}
#: Seconds between heartbeats, per kind: wearables talk often, ceiling alarms rarely.
HEARTBEATS = {
    "fall_detector": 300,
    "health_bracelet": 60,
    "door_contact": 600,
    "smoke_alarm": 3600,
    "gas_alarm": 3600,
    "water_leak": 3600,
}


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    device_id: str
    kind: str
    gateway: str
    protocol: str  # opcua or mqtt
    building_code: str
    resident_id: str | None  # of the person it watches over; None for household devices
    heartbeat_s: int
    living_alone: bool  # the simulator's behaviour (a door that rarely opens), not the hub's

    def manifest_row(self) -> dict[str, Any]:
        """A row of the installation list the hub's registry takes in."""
        return {
            "device_id": self.device_id,
            "kind": self.kind,
            "gateway": self.gateway,
            "protocol": self.protocol,
            "building_code": self.building_code,
            "resident_id": self.resident_id,
            "heartbeat_s": self.heartbeat_s,
        }


def _household_devices(rng: random.Random, household: Household) -> list[tuple[str, Any]]:
    residents = household.residents
    if not residents:
        return []
    head = residents[0]
    found: list[tuple[str, Any]] = [("smoke_alarm", head)]
    if rng.random() < 0.35:
        found.append(("gas_alarm", head))
    if any("elderly" in p.tags for p in residents) and rng.random() < 0.2:
        found.append(("water_leak", head))
    alone = [p for p in residents if "living_alone" in p.tags]
    if alone:
        found.append(("door_contact", alone[0]))
    for person in residents:
        if "aged_80_plus" in person.tags or "living_alone" in person.tags:
            found.append(("fall_detector", person))
            found.append(("health_bracelet", person))
    return found


def device_population(
    district: District,
    *,
    gateways: int = 4,
    mqtt_share: float = 0.0,
    limit: int | None = None,
    seed: int = 0,
) -> list[DeviceSpec]:
    """Every installed device, gateway by gateway; the same district and seed, the same list.

    ``gateways`` OPC UA gateways share the buildings in code order; ``mqtt_share`` of the
    buildings report over MQTT instead (gateway id ``mqtt``). ``limit`` stops early.
    """
    if gateways < 1:
        raise ValueError("at least one gateway")
    rng = random.Random(f"{seed}:devices")
    buildings = sorted(b.code for b in district.buildings)
    per_gateway = max(1, -(-len(buildings) // gateways))
    gateway_of = {code: f"gw{i // per_gateway + 1:02d}" for i, code in enumerate(buildings)}
    mqtt_buildings = {code for code in buildings if rng.random() < mqtt_share}
    counters: dict[str, int] = {}
    out: list[DeviceSpec] = []
    for household in district.households():
        building = household.address.building_code
        if not building:
            continue
        for kind, person in _household_devices(rng, household):
            counters[building] = counters.get(building, 0) + 1
            mqtt = building in mqtt_buildings
            out.append(
                DeviceSpec(
                    device_id=f"{PREFIX[kind]}{building}{counters[building]:03d}",
                    kind=kind,
                    gateway="mqtt" if mqtt else gateway_of[building],
                    protocol="mqtt" if mqtt else "opcua",
                    building_code=building,
                    resident_id=person.id_number,
                    heartbeat_s=HEARTBEATS[kind],
                    living_alone="living_alone" in person.tags,
                )
            )
            if limit is not None and len(out) >= limit:
                return out
    return out
