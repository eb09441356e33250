"""Is a reading what its point promises? The answer decides between detection and quarantine.

Gateways are written by vendors and break in vendor ways: a firmware update starts sending
heart rates as strings, a sensor glitch reports 900 bpm, a timestamp arrives naive. Each
such value is refused with a reason code (for counting and review) and a reason that names
the point and the rule, never the value: a heart rate tied to a device tied to a person is
health data, and reasons end up in logs and review screens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from device_bridge.model import POINTS, STATUSES, BadValue

__all__ = ["Invalid", "check"]


@dataclass(frozen=True, slots=True)
class Invalid:
    code: str  # reading.unknown_point, reading.wrong_type, reading.out_of_range, …
    reason: str  # free of the value itself


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:  # OPC UA DateTime is UTC by definition; JSON must say so
        return parsed.replace(tzinfo=UTC) if isinstance(value, datetime) else None
    return parsed.astimezone(UTC)


def check(point: str, value: Any) -> Any:
    """The value, normalised (numbers as float, times aware UTC), or :class:`Invalid`."""
    spec = POINTS.get(point)
    if spec is None:
        return Invalid("reading.unknown_point", f"{point[:40]!r} is not a point the bridge knows")
    if isinstance(value, BadValue):
        return Invalid("reading.bad_status", f"{point}: the gateway marked the value bad")
    kind = type(value).__name__
    if spec.type == "bool":
        if isinstance(value, bool):
            return value
        return Invalid("reading.wrong_type", f"{point} must be a boolean, got {kind}")
    if spec.type in ("number", "count"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return Invalid("reading.wrong_type", f"{point} must be a number, got {kind}")
        if spec.type == "count" and (isinstance(value, float) and not value.is_integer()):
            return Invalid("reading.wrong_type", f"{point} must be a whole number")
        number = float(value)
        if not math.isfinite(number):
            return Invalid("reading.out_of_range", f"{point} is not a finite number")
        if (spec.low is not None and number < spec.low) or (
            spec.high is not None and number > spec.high
        ):
            return Invalid(
                "reading.out_of_range",
                f"{point} outside the physically possible {spec.low:g}–{spec.high:g}",
            )
        return int(number) if spec.type == "count" else number
    if spec.type == "text":
        if not isinstance(value, str):
            return Invalid("reading.wrong_type", f"{point} must be text, got {kind}")
        if point == "status" and value not in STATUSES:
            return Invalid("reading.out_of_range", "status outside the device vocabulary")
        if len(value) > 40:
            return Invalid("reading.out_of_range", f"{point} longer than 40 characters")
        return value
    parsed = _time(value)
    if parsed is None:
        return Invalid("reading.wrong_type", f"{point} must be a timezone-aware time, got {kind}")
    return parsed
