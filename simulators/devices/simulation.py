"""A whole simulated device estate: gateways up, installation list and bridge config written.

``python -m simulators.devices`` and ``gridhub device-bridge simulate`` both run this: the
synthetic district decides which devices exist, OPC UA gateways (one port each) and the MQTT
gateway serve them, the driver makes them behave, and two files tell the hub about them —
``manifest.json`` (the installer's list, for ``gridhub device-bridge register``) and
``bridge.json`` (gateway endpoints, for ``gridhub device-bridge run --config``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulators.devices.device import SimDevice
from simulators.devices.driver import Driver
from simulators.devices.mqtt_gateway import MqttGateway
from simulators.devices.opcua_gateway import GatewayServer
from simulators.devices.population import DeviceSpec, device_population
from simulators.district import District

__all__ = ["Estate", "SimulationOptions", "build_estate", "simulate"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SimulationOptions:
    persons: int = 2_000
    seed: int = 0
    gateways: int = 2
    mqtt_share: float = 0.0
    limit: int | None = None
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    speed: float = 1.0
    change_rate: float = 0.0
    alarm_rate: float = 0.0


@dataclass(slots=True)
class Estate:
    specs: list[DeviceSpec]
    gateways: list[GatewayServer]
    mqtt: MqttGateway | None
    building_of_gateway: dict[str, str] = field(default_factory=dict)

    def bridge_config(self, mqtt_host: str, mqtt_port: int) -> dict[str, Any]:
        """The bridge's configuration for this estate (``BridgeConfig`` as JSON)."""
        config: dict[str, Any] = {
            "gateways": [
                {
                    "id": g.id,
                    "endpoint": g.endpoint,
                    "building_code": self.building_of_gateway[g.id],
                }
                for g in self.gateways
            ]
        }
        if self.mqtt is not None:
            config["mqtt"] = {"host": mqtt_host, "port": mqtt_port, "gateway_id": "mqtt"}
        return config

    async def start(self) -> None:
        for gateway in self.gateways:  # one by one: building an address space is CPU-bound
            await gateway.start()
        if self.mqtt is not None:
            self.mqtt.start()

    async def close(self) -> None:
        for gateway in self.gateways:
            await gateway.close()
        if self.mqtt is not None:
            self.mqtt.stop()


def build_estate(specs: list[DeviceSpec], mqtt_host: str, mqtt_port: int) -> Estate:
    by_gateway: dict[str, list[SimDevice]] = defaultdict(list)
    for spec in specs:
        by_gateway[spec.gateway].append(SimDevice(spec))
    mqtt_devices = by_gateway.pop("mqtt", [])
    gateways = [GatewayServer(gid, devices) for gid, devices in sorted(by_gateway.items())]
    mqtt = MqttGateway(mqtt_devices, host=mqtt_host, port=mqtt_port) if mqtt_devices else None
    where = {gid: devices[0].spec.building_code for gid, devices in by_gateway.items()}
    return Estate(specs, gateways, mqtt, where)


async def simulate(options: SimulationOptions, out: Path, stop: asyncio.Event) -> Estate:
    """Run the estate until ``stop``; the files are written once the gateways listen."""
    district = District(options.persons, options.seed)
    specs = device_population(
        district,
        gateways=options.gateways,
        mqtt_share=options.mqtt_share,
        limit=options.limit,
        seed=options.seed,
    )
    estate = build_estate(specs, options.mqtt_host, options.mqtt_port)
    await estate.start()
    out.mkdir(parents=True, exist_ok=True)
    rows = [s.manifest_row() for s in specs]
    (out / "manifest.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    config = estate.bridge_config(options.mqtt_host, options.mqtt_port)
    (out / "bridge.json").write_text(json.dumps(config, indent=2) + "\n")
    log.info(
        "%d devices on %d OPC UA gateways%s; files in %s",
        len(specs),
        len(estate.gateways),
        " and MQTT" if estate.mqtt else "",
        out,
    )
    driver = Driver(
        estate.gateways,
        estate.mqtt,
        speed=options.speed,
        change_rate=options.change_rate,
        alarm_rate=options.alarm_rate,
        seed=options.seed,
    )
    try:
        await driver.run(stop)
    finally:
        await estate.close()
    return estate
