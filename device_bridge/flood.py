"""Flood control: a device or a gateway that talks too fast is slowed down, never obeyed.

A stuck sensor that sends a thousand values a second must not starve the other devices of
its gateway, nor the other gateways of the bridge. Each device and each gateway has a token
bucket; a batch that finds no token is *coalesced*: its readings are folded into the device's
pending batch (the newest value of each point wins) and released when tokens come back. Alarm
points are never held back — an alarm from a flooding device goes through at once — and a
coalesced alarm keeps its newest episode, so flood control can delay a reading but never
lose an alarm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from device_bridge.model import ALARM_POINTS, Reading

__all__ = ["FloodGate", "TokenBucket"]


@dataclass(slots=True)
class TokenBucket:
    rate: float  # tokens per second
    burst: float
    tokens: float = -1.0
    stamp: float = 0.0

    def take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.stamp = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(slots=True)
class _Pending:
    gateway: str
    readings: dict[str, Reading] = field(default_factory=dict)


class FloodGate:
    def __init__(
        self, device_rate: float, device_burst: float, gateway_rate: float, gateway_burst: float
    ) -> None:
        self.device_rate, self.device_burst = device_rate, device_burst
        self.gateway_rate, self.gateway_burst = gateway_rate, gateway_burst
        self._devices: dict[str, TokenBucket] = {}
        self._gateways: dict[str, TokenBucket] = {}
        self._pending: dict[str, _Pending] = {}
        self.coalesced = 0  # readings folded into a pending batch (superseded or delayed)

    def admit(
        self, gateway: str, device: str, readings: list[Reading], now: float
    ) -> list[Reading] | None:
        """The readings to process now, or None when they were coalesced for later."""
        dev = self._devices.get(device)
        if dev is None:
            dev = self._devices[device] = TokenBucket(self.device_rate, self.device_burst)
        gw = self._gateways.get(gateway)
        if gw is None:
            gw = self._gateways[gateway] = TokenBucket(self.gateway_rate, self.gateway_burst)
        pending = self._pending.get(device)
        urgent = any(r.point in ALARM_POINTS for r in readings)
        if pending is None and ((dev.take(now) and gw.take(now)) or urgent):
            return readings
        if pending is None:
            pending = self._pending[device] = _Pending(gateway)
        for reading in readings:
            if reading.point in pending.readings:
                self.coalesced += 1
            pending.readings[reading.point] = reading
        if urgent:  # the alarm goes now, and takes the held readings with it
            return self._take(device)
        return None

    def _take(self, device: str) -> list[Reading]:
        pending = self._pending.pop(device)
        return list(pending.readings.values())

    def release(self, now: float) -> list[tuple[str, str, list[Reading]]]:
        """Pending batches whose device and gateway have tokens again: (gateway, device, …)."""
        out: list[tuple[str, str, list[Reading]]] = []
        for device in list(self._pending):
            pending = self._pending[device]
            if self._devices[device].take(now) and self._gateways[pending.gateway].take(now):
                out.append((pending.gateway, device, self._take(device)))
        return out

    @property
    def held(self) -> int:
        """Devices with a pending batch right now."""
        return len(self._pending)
