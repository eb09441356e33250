"""The device vocabulary both gateways speak, and the small values the bridge passes around.

OPC UA gateways name a reading ``HeartRate``, MQTT telemetry ``heart_rate``; both become the
same point here, so validation, detection and quarantine are written once. The physical
ranges are what a sensor can report at all (a heart rate of 900 is a broken sensor or a
broken gateway, not a patient); the clinical limits that raise health alerts are per person
and live in :class:`device_bridge.config.Thresholds`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "ALARM_EVENTS",
    "ALARM_POINTS",
    "COMMON_POINTS",
    "KIND_ALARM",
    "KIND_POINTS",
    "OPCUA_NAMES",
    "POINTS",
    "SIGNALS",
    "STATUSES",
    "BadValue",
    "Detection",
    "DeviceRef",
    "PointSpec",
    "Reading",
    "is_safe_id",
]

PointType = Literal["bool", "number", "count", "text", "time"]


@dataclass(frozen=True, slots=True)
class PointSpec:
    name: str  # the bridge's name, also the MQTT JSON key
    opcua: str  # the browse name on an OPC UA gateway
    type: PointType
    low: float | None = None  # physically possible range, inclusive
    high: float | None = None


POINTS: dict[str, PointSpec] = {
    p.name: p
    for p in (
        PointSpec("heart_rate", "HeartRate", "number", 20, 250),
        PointSpec("spo2", "SpO2", "number", 50, 100),
        PointSpec("fall", "Fall", "bool"),
        PointSpec("door_open", "DoorOpen", "bool"),
        PointSpec("smoke", "Smoke", "bool"),
        PointSpec("gas", "Gas", "bool"),
        PointSpec("leak", "Leak", "bool"),
        PointSpec("status", "Status", "text"),
        PointSpec("battery", "Battery", "number", 0, 100),
        PointSpec("last_seen", "LastSeen", "time"),
        PointSpec("alarm_active", "AlarmActive", "bool"),
        PointSpec("alarm_episode", "AlarmEpisode", "count", 0, 4_294_967_295),
        PointSpec("alarm_kind", "AlarmKind", "text"),
        PointSpec("alarm_since", "AlarmSince", "time"),
    )
}
OPCUA_NAMES: dict[str, str] = {p.opcua: p.name for p in POINTS.values()}
ALARM_POINTS = frozenset({"alarm_active", "alarm_episode", "alarm_kind", "alarm_since"})
COMMON_POINTS: tuple[str, ...] = ("status", "battery", "last_seen", *sorted(ALARM_POINTS))

#: The readings each kind of device reports besides the common ones.
KIND_POINTS: dict[str, tuple[str, ...]] = {
    "fall_detector": ("fall",),
    "health_bracelet": ("heart_rate", "spo2"),
    "door_contact": ("door_open",),
    "smoke_alarm": ("smoke",),
    "gas_alarm": ("gas",),
    "water_leak": ("leak",),
}
#: The alarm a device of each kind latches (a bracelet latches its SOS button).
KIND_ALARM: dict[str, str] = {
    "fall_detector": "fall",
    "health_bracelet": "sos",
    "door_contact": "tamper",
    "smoke_alarm": "smoke",
    "gas_alarm": "gas",
    "water_leak": "leak",
}
#: Alarm kind → (event type, severity). Anything that can kill within minutes is an emergency.
ALARM_EVENTS: dict[str, tuple[str, str]] = {
    "fall": ("device.fall", "emergency"),
    "sos": ("device.sos", "emergency"),
    "smoke": ("device.smoke", "emergency"),
    "gas": ("device.gas", "emergency"),
    "leak": ("device.leak", "emergency"),
    "tamper": ("device.tamper", "medium"),
}
STATUSES = frozenset({"ok", "fault", "low_battery", "tamper", "offline"})

#: What a detection is about: the ``signal`` part of a :class:`DeviceRef`.
SIGNALS = frozenset(
    {"alarm", "health", "no_activity", "silent", "low_battery", "fault", "gateway_offline"}
)

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def is_safe_id(text: str) -> bool:
    """Gateway and device ids travel inside references and topics: no slashes, no spaces."""
    return bool(_SAFE_ID.match(text))


@dataclass(frozen=True, slots=True)
class BadValue:
    """A value the gateway itself flagged bad (an OPC UA Bad status): never a reading."""

    status: str


@dataclass(frozen=True, slots=True)
class Reading:
    """One value as a gateway reported it, before validation."""

    point: str
    value: Any
    at: datetime | None  # the gateway's source timestamp, when it gave one


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """``gateway/building/device/signal/episode``: the event's source reference.

    It is what makes an alarm episode unique (the exchange keeps one report per reference,
    which is the persisted de-duplication) and what the acknowledgement needs to find its
    way back: the gateway, the building (MQTT topics are per building), the device and the
    episode to clear.
    """

    gateway: str
    building: str
    device: str
    signal: str
    episode: str

    def __str__(self) -> str:
        return "/".join((self.gateway, self.building, self.device, self.signal, self.episode))

    @classmethod
    def parse(cls, text: str) -> DeviceRef:
        parts = text.split("/")
        if len(parts) != 5 or parts[3] not in SIGNALS or not all(parts):
            raise ValueError("not a device reference (gateway/building/device/signal/episode)")
        return cls(*parts)


@dataclass(slots=True)
class Detection:
    """Something a grid worker must hear about, on its way to ``workflow.publish_event``."""

    ref: DeviceRef
    event_type: str
    severity: str
    occurred_at: datetime
    person_id: int | None
    address_id: int | None
    building_code: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    detected_at: float = 0.0  # time.time() when the bridge decided, for latency figures

    @property
    def dedup_key(self) -> str:
        """One open event per device and type: a second episode joins it, no second task."""
        return f"device:{self.ref.gateway}/{self.ref.device}:{self.event_type}"
