"""One batch of readings from one device: flood control, registry, validation, detection.

Runs on the event loop and never touches the database: refused readings wait in a buffer
that the service flushes in one transaction, detections go to the writer's queue. That keeps
a reading's path to "judged" at microseconds, whatever the store is doing.

Log lines name gateways, devices, points and reason codes — never a value, a name or an ID
number: a device id is the vendor's serial, a reading is health data.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from device_bridge.config import BridgeConfig
from device_bridge.detect import Detector
from device_bridge.flood import FloodGate
from device_bridge.metrics import BridgeMetrics
from device_bridge.model import ALARM_POINTS, Reading
from device_bridge.registry import DeviceInfo
from device_bridge.store import Quarantined
from device_bridge.validate import Invalid, check
from device_bridge.writer import DetectionQueue

__all__ = ["Pipeline"]

log = logging.getLogger(__name__)

_LIVE_LAG_S = 60.0  # an older source time is state being replayed, not a live change
_UNKNOWN_LOG_EVERY_S = 600.0


def _raw(gateway: str, device: str, reading: Reading) -> bytes:
    value: Any = reading.value
    if not isinstance(value, bool | int | float | str | type(None)):
        value = repr(value)[:200]
    return json.dumps(
        {
            "gateway": gateway,
            "device": device,
            "point": reading.point[:60],
            "value": value,
            "type": type(reading.value).__name__,
            "at": reading.at.isoformat() if reading.at else None,
        },
        ensure_ascii=False,
    ).encode()


class Pipeline:
    def __init__(
        self,
        config: BridgeConfig,
        metrics: BridgeMetrics,
        queue: DetectionQueue,
        registry: dict[str, DeviceInfo] | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.queue = queue
        self.registry: dict[str, DeviceInfo] = registry or {}
        self.detector = Detector(config.thresholds)
        self.flood = FloodGate(
            config.device_rate, config.device_burst, config.gateway_rate, config.gateway_burst
        )
        self.gateway_buildings = {g.id: g.building_code for g in config.gateways}
        self.refused: list[Quarantined] = []
        self._refused_budget: dict[str, tuple[int, int]] = {}  # device → (minute, count)
        self._unknown_logged: dict[str, float] = {}
        self._coalesced_seen = 0

    # --- entry points (event loop) ---------------------------------------------------------

    def submit(
        self,
        gateway: str,
        device: str,
        readings: list[Reading],
        after: Callable[[], None] | None = None,
        building: str | None = None,
    ) -> None:
        """Judge one device's readings; ``after`` runs once they are handled (MQTT's ack)."""
        admitted = self.flood.admit(gateway, device, readings, time.monotonic())
        self._count_coalesced()
        if admitted is None:
            if after is not None:
                after()  # held in memory, newest value wins; an alarm is never held
            return
        self._process(gateway, device, admitted, after, building)

    def release(self) -> None:
        """Batches flood control held back, now that their devices may speak again."""
        for gateway, device, readings in self.flood.release(time.monotonic()):
            self._process(gateway, device, readings, None, None)
        self.metrics.held.set(self.flood.held)

    def reject(
        self,
        gateway: str,
        device: str,
        raw: bytes,
        code: str,
        reason: str,
        after: Callable[[], None],
    ) -> None:
        """A message that is not a reading at all (bad topic, not JSON): kept, not judged."""
        self._refuse(Quarantined(gateway, device, "messages", raw[:65536], code, reason, _now()))
        after()

    def tick(self, now: datetime, reachable_since: Callable[[str], datetime | None]) -> None:
        for det in self.detector.tick(self.registry.values(), now, reachable_since):
            self.queue.put(det)

    # --- internals --------------------------------------------------------------------------

    def _count_coalesced(self) -> None:
        delta = self.flood.coalesced - self._coalesced_seen
        if delta:
            self.metrics.coalesced.inc(delta)
            self._coalesced_seen = self.flood.coalesced

    def _process(
        self,
        gateway: str,
        device: str,
        readings: list[Reading],
        after: Callable[[], None] | None,
        building: str | None,
    ) -> None:
        now = _now()
        info = self.registry.get(device)
        if info is None:
            info = self._unknown(gateway, device, readings, building, now)
            if info is None:
                if after is not None:
                    after()
                return
            readings = [r for r in readings if r.point in ALARM_POINTS]
        valid: list[tuple[str, Any, datetime]] = []
        newest: datetime | None = None
        for reading in readings:
            value = check(reading.point, reading.value)
            if isinstance(value, Invalid):
                self._refuse(
                    Quarantined(
                        gateway,
                        device,
                        "readings",
                        _raw(gateway, device, reading),
                        value.code,
                        value.reason,
                        now,
                    )
                )
                continue
            at = reading.at or now
            newest = at if newest is None or at > newest else newest
            valid.append((reading.point, value, at))
        if valid:
            self.metrics.readings.labels(gateway).inc(len(valid))
        if newest is not None and (lag := (now - newest).total_seconds()) < _LIVE_LAG_S:
            self.metrics.reading_lag.observe(max(0.0, lag))
        detections = self.detector.apply(info, valid, now)
        for det in detections[:-1]:
            self.queue.put(det)
        if detections:
            self.queue.put(detections[-1], after)  # MQTT: acknowledged once it is stored
        elif after is not None:
            after()

    def _unknown(
        self,
        gateway: str,
        device: str,
        readings: list[Reading],
        building: str | None,
        now: datetime,
    ) -> DeviceInfo | None:
        """An unregistered device: quarantined and logged; its alarms still reach a worker,
        at the gateway's building, because an alarm nobody registered is still an alarm."""
        self.metrics.unknown.labels(gateway).inc(len(readings))
        last = self._unknown_logged.get(device)
        if last is None or time.monotonic() - last > _UNKNOWN_LOG_EVERY_S:
            self._unknown_logged[device] = time.monotonic()
            log.warning("gateway %s reports unregistered device %s", gateway, device)
            self._refuse(
                Quarantined(
                    gateway,
                    device,
                    "devices",
                    json.dumps({"gateway": gateway, "device": device}).encode(),
                    "device.unknown",
                    "the device is not in the device registry",
                    now,
                )
            )
        if not any(r.point in ALARM_POINTS for r in readings):
            return None
        where = building or self.gateway_buildings.get(gateway)
        return DeviceInfo(
            pk=0,
            device_id=device,
            kind="unknown",
            gateway=gateway,
            protocol="mqtt" if building else "opcua",
            building_code=where,
            address_id=None,
            person_id=None,
            living_alone=False,
            heartbeat_s=0,
            thresholds={},
            last_seen=None,
            last_activity=None,
            installed_at=now,
        )

    def _refuse(self, item: Quarantined) -> None:
        self.metrics.quarantined.labels(item.code).inc()
        minute = int(time.monotonic() // 60)
        seen_minute, count = self._refused_budget.get(item.device, (minute, 0))
        if seen_minute != minute:
            count = 0
            if len(self._refused_budget) > 50_000:
                self._refused_budget.clear()
        self._refused_budget[item.device] = (minute, count + 1)
        if count >= self.config.quarantine_per_device_minute:
            return  # counted, not stored: a flood of garbage must not flood the store
        if count == 0:
            log.warning("device %s on %s: %s (quarantined)", item.device, item.gateway, item.code)
        self.refused.append(item)

    def take_refused(self) -> list[Quarantined]:
        refused, self.refused = self.refused, []
        return refused


def _now() -> datetime:
    return datetime.now(UTC)
