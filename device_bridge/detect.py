"""From readings to detections: what is worth a grid worker's visit, and when.

Each device has a :class:`Track`. Readings update it; detections come out keyed by an
*episode* (an alarm's latch counter, the instant a vital sign left its range, the last time a
device was heard), so the same episode seen twice — through an OPC UA event and a data
change, or again after a reconnect — is one detection, and the exchange's unique source
reference makes that hold across restarts too. Durations are debounced: a heart rate must
stay out of range for ``sustain_s`` and back in range for ``recover_s`` before an episode
ends, so a value bouncing on the limit is one alert, not one per bounce.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from device_bridge.config import Thresholds
from device_bridge.model import ALARM_EVENTS, KIND_ALARM, Detection, DeviceRef
from device_bridge.registry import DeviceInfo

__all__ = ["Detector", "Track", "alarm_episode"]

_RAISED_KEPT = 64


def _ms(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


def alarm_episode(counter: int | None, since: datetime | None) -> str | None:
    """``<counter>-<since, epoch seconds>``: the latch counter alone would make a device
    that was reset (counting from 1 again) look like a duplicate of an old alarm — a lost
    alarm — so the time the latch closed is part of the episode. A gateway that publishes
    the two in separate notifications costs at most one more report of the same event (the
    device's open event takes it in), never a second task."""
    if counter is None:
        return None
    return f"{counter}-{int(since.timestamp())}" if since is not None else str(counter)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


@dataclass(slots=True)
class Track:
    """What the bridge knows about one device between readings."""

    last_seen: datetime | None = None
    last_activity: datetime | None = None
    door_open: bool | None = None
    alarm_active: bool = False
    alarm_episode: int | None = None
    alarm_kind: str | None = None
    alarm_since: datetime | None = None
    out_since: dict[str, datetime] = field(default_factory=dict)
    back_since: dict[str, datetime] = field(default_factory=dict)
    last_vital: dict[str, float] = field(default_factory=dict)
    low_battery_since: datetime | None = None
    fault_since: datetime | None = None
    raised: dict[str, None] = field(default_factory=dict)  # an ordered, bounded set
    dirty: bool = False  # last_seen / last_activity changed since the last flush

    def mark(self, key: str) -> bool:
        """Remember ``key``; False when it was already raised."""
        if key in self.raised:
            return False
        self.raised[key] = None
        if len(self.raised) > _RAISED_KEPT:
            del self.raised[next(iter(self.raised))]
        return True


class Detector:
    def __init__(self, thresholds: Thresholds) -> None:
        self.defaults = thresholds
        self.tracks: dict[str, Track] = {}
        self._limits: dict[str, tuple[int, Thresholds]] = {}

    def limits(self, info: DeviceInfo) -> Thresholds:
        cached = self._limits.get(info.device_id)
        marker = id(info.thresholds)
        if cached is None or cached[0] != marker:
            cached = (marker, self.defaults.merged(info.thresholds))
            self._limits[info.device_id] = cached
        return cached[1]

    def track(self, device_id: str) -> Track:
        found = self.tracks.get(device_id)
        if found is None:
            found = self.tracks[device_id] = Track()
        return found

    def _detection(
        self,
        info: DeviceInfo,
        signal: str,
        episode: str,
        event: tuple[str, str],
        occurred_at: datetime,
        payload: dict[str, Any],
    ) -> Detection:
        ref = DeviceRef(info.gateway, info.building_code or "-", info.device_id, signal, episode)
        return Detection(
            ref=ref,
            event_type=event[0],
            severity=event[1],
            occurred_at=occurred_at,
            person_id=info.person_id,
            address_id=info.address_id,
            building_code=info.building_code,
            payload={
                "device": info.device_id,
                "device_kind": info.kind,
                "gateway": info.gateway,
                "signal": signal,
                "episode": episode,
                **payload,
            },
            detected_at=time.time(),
        )

    # --- readings -------------------------------------------------------------------------

    def apply(
        self,
        info: DeviceInfo,
        readings: Iterable[tuple[str, Any, datetime]],
        now: datetime,
    ) -> list[Detection]:
        """Fold validated readings (point, value, time) into the track; return what to raise."""
        t = self.track(info.device_id)
        limits = self.limits(info)
        seen = t.last_seen
        for point, value, at in readings:
            seen = _later(seen, value if point == "last_seen" else at)
            if point == "door_open":
                if t.door_open is None or value != t.door_open:
                    t.last_activity = _later(t.last_activity, at)
                    t.dirty = True
                t.door_open = value
            elif point in ("heart_rate", "spo2"):
                self._vital(t, limits, point, value, at)
            elif point == "battery":
                if value < limits.low_battery:
                    t.low_battery_since = t.low_battery_since or at
                elif value >= limits.low_battery + 10:
                    t.low_battery_since = None
            elif point == "status":
                if value in ("fault", "tamper"):
                    t.fault_since = t.fault_since or at
                elif value == "ok":
                    t.fault_since = None
            elif point == "alarm_active":
                t.alarm_active = value
            elif point == "alarm_episode":
                t.alarm_episode = value
            elif point == "alarm_kind":
                t.alarm_kind = value
            elif point == "alarm_since":
                t.alarm_since = value
        if seen != t.last_seen:
            t.last_seen = seen
            t.dirty = True
        return self._evaluate(info, t, limits, now)

    def _vital(self, t: Track, limits: Thresholds, point: str, value: float, at: datetime) -> None:
        t.last_vital[point] = value
        if point == "heart_rate":
            out = value < limits.heart_rate_low or value > limits.heart_rate_high
        else:
            out = value < limits.spo2_low
        if out:
            t.back_since.pop(point, None)
            t.out_since.setdefault(point, at)
        elif point in t.out_since:
            back = t.back_since.setdefault(point, at)
            if at - back >= timedelta(seconds=limits.recover_s):
                del t.out_since[point]
                del t.back_since[point]

    def _evaluate(
        self, info: DeviceInfo, t: Track, limits: Thresholds, now: datetime
    ) -> list[Detection]:
        found: list[Detection] = []
        episode = alarm_episode(t.alarm_episode, t.alarm_since)
        if t.alarm_active and episode is not None and t.mark(f"alarm/{episode}"):
            kind = t.alarm_kind or KIND_ALARM.get(info.kind, "alarm")
            event = ALARM_EVENTS.get(kind, ("device.alarm", "high"))
            found.append(
                self._detection(
                    info,
                    "alarm",
                    episode,
                    event,
                    t.alarm_since or now,
                    {"alarm": kind},
                )
            )
        for point, since in list(t.out_since.items()):
            if now - since >= timedelta(seconds=limits.sustain_s) and t.mark(
                f"health/{point}-{_ms(since)}"
            ):
                value = t.last_vital.get(point)
                found.append(
                    self._detection(
                        info,
                        "health",
                        f"{point}-{_ms(since)}",
                        ("device.health_alert", "high"),
                        since,
                        {"vital": point, "value": value, "sustained_s": limits.sustain_s},
                    )
                )
        if t.low_battery_since is not None and t.mark(f"low_battery/{_ms(t.low_battery_since)}"):
            found.append(
                self._detection(
                    info,
                    "low_battery",
                    _ms(t.low_battery_since),
                    ("device.low_battery", "low"),
                    t.low_battery_since,
                    {"reason": "battery below the replacement level"},
                )
            )
        if t.fault_since is not None and t.mark(f"fault/{_ms(t.fault_since)}"):
            found.append(
                self._detection(
                    info,
                    "fault",
                    _ms(t.fault_since),
                    ("device.fault", "medium"),
                    t.fault_since,
                    {"reason": "the device reports a fault or tampering"},
                )
            )
        return found

    # --- time passing ---------------------------------------------------------------------

    def tick(
        self,
        devices: Iterable[DeviceInfo],
        now: datetime,
        reachable_since: Callable[[str], datetime | None],
    ) -> list[Detection]:
        """Durations that ran out with no reading: sustained vitals, silence, no door activity.

        ``reachable_since(gateway)`` is when the gateway was last (re)connected and synced, or
        None while it is not: a device behind an unreachable gateway is not silent, its
        gateway is (that is one event, raised by the service, not one per device).
        """
        found: list[Detection] = []
        for info in devices:
            since = reachable_since(info.gateway)
            if since is None:
                continue
            t = self.track(info.device_id)
            limits = self.limits(info)
            if t.out_since:
                found.extend(self._evaluate(info, t, limits, now))
            last = _later(t.last_seen, info.last_seen) or info.installed_at
            allowed = timedelta(seconds=info.heartbeat_s * limits.silent_heartbeats)
            silent = now - max(last, since) > allowed
            if silent and t.mark(f"silent/{_ms(last)}"):
                found.append(
                    self._detection(
                        info,
                        "silent",
                        _ms(last),
                        ("device.silent", "low"),
                        last + allowed,
                        {"reason": "no heartbeat", "heartbeat_s": info.heartbeat_s},
                    )
                )
            if info.kind != "door_contact" or not info.living_alone or silent:
                continue
            active = _later(t.last_activity, info.last_activity) or info.installed_at
            quiet = timedelta(seconds=limits.no_activity_s)
            if now - max(active, since) > quiet and t.mark(f"no_activity/{_ms(active)}"):
                found.append(
                    self._detection(
                        info,
                        "no_activity",
                        _ms(active),
                        ("device.no_activity", "high"),
                        active + quiet,
                        {"reason": "no door activity", "quiet_s": limits.no_activity_s},
                    )
                )
        return found

    def seen_updates(
        self, registry: dict[str, DeviceInfo]
    ) -> dict[int, tuple[datetime | None, datetime | None]]:
        """Changed last-seen / last-activity times by device pk, and forget they changed."""
        out: dict[int, tuple[datetime | None, datetime | None]] = {}
        for device_id, t in self.tracks.items():
            if not t.dirty:
                continue
            info = registry.get(device_id)
            t.dirty = False
            if info is None or info.pk <= 0:
                continue
            out[info.pk] = (t.last_seen, t.last_activity)
            info.last_seen = _later(info.last_seen, t.last_seen)
            info.last_activity = _later(info.last_activity, t.last_activity)
        return out
