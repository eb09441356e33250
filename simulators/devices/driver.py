"""What the district's devices do over time: heartbeats, vital signs, doors, alarms.

Time can be compressed (``speed`` simulated seconds per second) so a day of door activity or
an hour of heartbeats passes in a demo. On top of the behaviour, ``change_rate`` adds that
many value changes per second spread over all devices — the load a benchmark asks for — and
``alarm_rate`` (per minute) injects alarms at random eligible devices.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from simulators.devices.device import SimDevice
from simulators.devices.mqtt_gateway import MqttGateway
from simulators.devices.opcua_gateway import GatewayServer

__all__ = ["Driver"]

log = logging.getLogger(__name__)

_TICK = 0.1
_ALARMING = ("fall_detector", "smoke_alarm", "gas_alarm", "water_leak")


class Driver:
    def __init__(
        self,
        gateways: Sequence[GatewayServer] = (),
        mqtt: MqttGateway | None = None,
        *,
        speed: float = 1.0,
        change_rate: float = 0.0,
        alarm_rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.gateways = list(gateways)
        self.mqtt = mqtt
        self.speed = speed
        self.change_rate = change_rate
        self.alarm_rate = alarm_rate
        self.rng = random.Random(seed)
        self.where: dict[str, GatewayServer | MqttGateway] = {}
        for gw in self.gateways:
            self.where.update(dict.fromkeys(gw.devices, gw))
        if mqtt is not None:
            self.where.update(dict.fromkeys(mqtt.devices, mqtt))
        self.devices: dict[str, SimDevice] = {}
        owners: list[GatewayServer | MqttGateway] = [*self.gateways, *([mqtt] if mqtt else [])]
        for owner in owners:
            self.devices.update(owner.devices)
        self.ids = sorted(self.devices)
        self.changes = 0
        self.alarms: list[tuple[str, int, float]] = []  # (device, episode, wall time)
        now = time.monotonic()
        self._beats = [
            (now + self.rng.uniform(0, d.spec.heartbeat_s) / speed, i)
            for i, d in enumerate(self.devices[k] for k in self.ids)
        ]
        heapq.heapify(self._beats)

    async def update(self, device_id: str, changes: dict[str, Any]) -> None:
        """Apply changes through whichever gateway the device is behind."""
        owner = self.where[device_id]
        at = datetime.now(UTC)
        if isinstance(owner, GatewayServer):
            if owner.running or owner.server is not None:
                await owner.write(device_id, changes, at)
        else:
            owner.telemetry(device_id, changes, at)
        self.changes += len(changes)

    async def inject_alarm(self, device_id: str, kind: str | None = None) -> int:
        owner = self.where[device_id]
        wall = time.time()
        if isinstance(owner, GatewayServer):
            episode = await owner.raise_alarm(device_id, kind)
        else:
            episode = owner.raise_alarm(device_id, kind)
        self.alarms.append((device_id, episode, wall))
        return episode

    def _change_for(self, device: SimDevice) -> dict[str, Any]:
        """A plausible next reading for this kind of device."""
        kind = device.spec.kind
        if kind == "health_bracelet":
            hr = float(device.values["heart_rate"])
            hr = min(110.0, max(55.0, hr + self.rng.gauss(0, 3)))
            spo2 = min(100.0, max(93.0, float(device.values["spo2"]) + self.rng.gauss(0, 0.5)))
            return {"heart_rate": round(hr, 1), "spo2": round(spo2, 1)}
        if kind == "door_contact":
            return {"door_open": not device.values["door_open"]}
        battery = max(20.0, float(device.values["battery"]) - self.rng.uniform(0, 0.05))
        return {"battery": round(battery, 2)}

    async def _heartbeats(self, now: float) -> None:
        while self._beats and self._beats[0][0] <= now:
            _, index = heapq.heappop(self._beats)
            device = self.devices[self.ids[index]]
            heapq.heappush(self._beats, (now + device.spec.heartbeat_s / self.speed, index))
            changes: dict[str, Any] = {"last_seen": datetime.now(UTC)}
            if device.spec.kind == "health_bracelet":
                changes.update(self._change_for(device))
            await self.update(device.id, changes)

    async def run(self, stop: asyncio.Event) -> None:
        debt = 0.0
        alarm_debt = 0.0
        while not stop.is_set():
            started = time.monotonic()
            await self._heartbeats(started)
            debt += self.change_rate * _TICK
            while debt >= 1 and self.ids:
                debt -= 1
                device = self.devices[self.rng.choice(self.ids)]
                await self.update(device.id, self._change_for(device))
            alarm_debt += self.alarm_rate / 60 * _TICK
            while alarm_debt >= 1:
                alarm_debt -= 1
                eligible = [d for d in self.ids if self.devices[d].spec.kind in _ALARMING]
                if eligible:
                    await self.inject_alarm(self.rng.choice(eligible))
            spent = time.monotonic() - started
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, _TICK - spent))
