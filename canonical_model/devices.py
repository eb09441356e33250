"""The device registry: which device watches over whom, where, and how often it must speak.

A fall detector's alarm is only useful when it names a person and a building, so every device
a gateway reports is registered with the person it was installed for (the installer's record)
and the building whose grid worker will go. ``heartbeat_s`` says how long silence is normal
for this device, ``thresholds`` overrides the bridge's clinical limits for this person (a
doctor may set a lower heart-rate limit), and ``last_seen_at`` / ``last_activity_at`` survive
a bridge restart, so "silent for a day" and "no door opened for a day" are not forgotten
when the service is redeployed. Kinds are plain strings (no migration per kind).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from canonical_model.base import Base, IdType, utcnow

__all__ = ["DEVICE_KINDS", "DEVICE_PROTOCOLS", "Device"]

#: What the district installs; the bridge knows the readings and alarms of each.
DEVICE_KINDS: tuple[str, ...] = (
    "fall_detector",
    "health_bracelet",
    "door_contact",
    "smoke_alarm",
    "gas_alarm",
    "water_leak",
)
DEVICE_PROTOCOLS: tuple[str, ...] = ("opcua", "mqtt")


class Device(Base):
    """One installed device; ``device_id`` is the vendor's identifier, opaque to the hub."""

    __tablename__ = "device"
    __table_args__ = (Index("ix_device_gateway", "gateway", "active"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    gateway: Mapped[str] = mapped_column(String(64))  # the building gateway it reports through
    protocol: Mapped[str] = mapped_column(String(10), default="opcua")
    building_code: Mapped[str | None] = mapped_column(
        ForeignKey("grid_unit.code", ondelete="SET NULL"), index=True
    )
    address_id: Mapped[int | None] = mapped_column(ForeignKey("address.id", ondelete="SET NULL"))
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    heartbeat_s: Mapped[int] = mapped_column(default=300)
    thresholds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    last_seen_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime | None]  # door contacts: the last open or close
    installed_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
