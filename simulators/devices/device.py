"""One simulated device: its readings, its battery, and the alarm latch it keeps in memory.

The latch is the device's, not the gateway connection's: an alarm raised while nobody is
listening stays latched (``alarm_active``) with its episode number until someone
acknowledges *that* episode. Episodes only count up, so an acknowledgement that arrives
after a newer alarm cannot clear the newer one. This state survives a gateway restart, as a
real gateway's non-volatile memory would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from simulators.devices.population import DeviceSpec

__all__ = ["ALARM_OF", "POINTS_OF", "SimDevice"]

#: The value points each kind reports (the bridge's names; OPC UA names are in opcua_gateway).
POINTS_OF: dict[str, tuple[str, ...]] = {
    "fall_detector": ("fall",),
    "health_bracelet": ("heart_rate", "spo2"),
    "door_contact": ("door_open",),
    "smoke_alarm": ("smoke",),
    "gas_alarm": ("gas",),
    "water_leak": ("leak",),
}
#: The alarm each kind latches, and the value point that goes true with it.
ALARM_OF: dict[str, tuple[str, str | None]] = {
    "fall_detector": ("fall", "fall"),
    "health_bracelet": ("sos", None),
    "door_contact": ("tamper", None),
    "smoke_alarm": ("smoke", "smoke"),
    "gas_alarm": ("gas", "gas"),
    "water_leak": ("leak", "leak"),
}
_INITIAL: dict[str, Any] = {
    "fall": False,
    "heart_rate": 72.0,
    "spo2": 97.0,
    "door_open": False,
    "smoke": False,
    "gas": False,
    "leak": False,
}

AckResult = Literal["cleared", "already_clear", "stale_episode"]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class SimDevice:
    spec: DeviceSpec
    values: dict[str, Any] = field(default_factory=dict)
    stamps: dict[str, datetime] = field(default_factory=dict)  # point → when it last changed
    acks: list[tuple[int, str]] = field(default_factory=list)  # (episode, result), for tests

    def __post_init__(self) -> None:
        start = _now()
        for point in POINTS_OF[self.spec.kind]:
            self.set(point, _INITIAL[point], start)
        self.set("status", "ok", start)
        self.set("battery", 100.0, start)
        self.set("last_seen", start, start)
        self.set("alarm_active", False, start)
        self.set("alarm_episode", 0, start)
        self.set("alarm_kind", ALARM_OF[self.spec.kind][0], start)
        self.set("alarm_since", start, start)

    @property
    def id(self) -> str:
        return self.spec.device_id

    def set(self, point: str, value: Any, at: datetime) -> None:
        self.values[point] = value
        self.stamps[point] = at

    def points(self) -> tuple[str, ...]:
        return (*POINTS_OF[self.spec.kind], "status", "battery", "last_seen", *_ALARM)

    def raise_alarm(self, kind: str | None, at: datetime) -> tuple[bool, dict[str, Any]]:
        """Latch an alarm; (new episode?, the changed points in write order).

        Already latched: the same episode goes on (a second fall before anyone came is the
        same emergency). Otherwise the episode counts up and the latch closes.
        """
        kind = kind or ALARM_OF[self.spec.kind][0]
        changes: dict[str, Any] = {}
        hazard = ALARM_OF[self.spec.kind][1]
        if hazard is not None:
            changes[hazard] = True
        new = not self.values["alarm_active"]
        if new:
            changes["alarm_kind"] = kind
            changes["alarm_since"] = at
            changes["alarm_episode"] = int(self.values["alarm_episode"]) + 1
            changes["alarm_active"] = True  # last: the bridge judges a complete state
        for point, value in changes.items():
            self.set(point, value, at)
        return new, changes

    def acknowledge(self, episode: int, at: datetime) -> tuple[AckResult, dict[str, Any]]:
        """Clear the latch if ``episode`` is the latched one."""
        if not self.values["alarm_active"]:
            result: AckResult = "already_clear"
            changes: dict[str, Any] = {}
        elif int(episode) != int(self.values["alarm_episode"]):
            result, changes = "stale_episode", {}
        else:
            result, changes = "cleared", {"alarm_active": False}
            hazard = ALARM_OF[self.spec.kind][1]
            if hazard is not None:
                changes[hazard] = False
        for point, value in changes.items():
            self.set(point, value, at)
        self.acks.append((int(episode), result))
        return result, changes


_ALARM = ("alarm_kind", "alarm_since", "alarm_episode", "alarm_active")
