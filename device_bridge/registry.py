"""The device registry as the bridge uses it: loaded once, held in memory, written back in bulk.

A reading must be mapped to its person and building in microseconds, so the registry lives
in a dict; the database is read at start and every ``registry_refresh_s`` (new
installations), and last-seen / last-activity times go back in one ``executemany`` per
flush rather than one UPDATE per heartbeat. Registration links a device to a person by the
resident ID the installer wrote down, which is how a vendor's installation list arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from canonical_model import GridUnit, Person, PersonIdentifier, utcnow
from canonical_model.devices import DEVICE_KINDS, DEVICE_PROTOCOLS, Device
from device_bridge.model import is_safe_id

__all__ = ["DeviceInfo", "Registration", "flush_seen", "load_devices", "register_devices"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class DeviceInfo:
    """What the bridge needs about one device; no names, no ID numbers."""

    pk: int
    device_id: str
    kind: str
    gateway: str
    protocol: str
    building_code: str | None
    address_id: int | None
    person_id: int | None
    living_alone: bool
    heartbeat_s: int
    thresholds: dict[str, Any]
    last_seen: datetime | None
    last_activity: datetime | None
    installed_at: datetime


def load_devices(session: Session, since: datetime | None = None) -> dict[str, DeviceInfo]:
    """Active devices (changed after ``since``, if given), with their person's living-alone tag."""
    query = (
        select(Device, Person.tags)
        .outerjoin(Person, Person.id == Device.person_id)
        .where(Device.active.is_(True))
    )
    if since is not None:
        query = query.where(Device.updated_at > since)
    found: dict[str, DeviceInfo] = {}
    for device, tags in session.execute(query):
        found[device.device_id] = DeviceInfo(
            pk=device.id,
            device_id=device.device_id,
            kind=device.kind,
            gateway=device.gateway,
            protocol=device.protocol,
            building_code=device.building_code,
            address_id=device.address_id,
            person_id=device.person_id,
            living_alone="living_alone" in (tags or ()),
            heartbeat_s=device.heartbeat_s,
            thresholds=dict(device.thresholds or {}),
            last_seen=device.last_seen_at,
            last_activity=device.last_activity_at,
            installed_at=device.installed_at,
        )
    return found


@dataclass(slots=True)
class Registration:
    inserted: int = 0
    updated: int = 0
    refused: list[str] = field(default_factory=list)  # "row N: reason", no personal data
    unlinked: int = 0  # registered without a person (resident ID not in the store)

    def as_dict(self) -> dict[str, Any]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "refused": len(self.refused),
            "unlinked": self.unlinked,
        }


def _person_ids(session: Session, resident_ids: set[str]) -> dict[str, int]:
    if not resident_ids:
        return {}
    found: dict[str, int] = {}
    ids = sorted(resident_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for pid, rid in session.execute(
            select(Person.id, Person.resident_id).where(Person.resident_id.in_(chunk))
        ):
            if rid is not None:
                found.setdefault(rid, pid)
        for pid, value in session.execute(
            select(PersonIdentifier.person_id, PersonIdentifier.value).where(
                PersonIdentifier.kind == "resident_id", PersonIdentifier.value.in_(chunk)
            )
        ):
            found.setdefault(value, pid)
    return found


def _refusal(row: Mapping[str, Any]) -> str | None:
    device_id = str(row.get("device_id") or "")
    if not is_safe_id(device_id):
        return "device_id missing or not a plain id"
    if row.get("kind") not in DEVICE_KINDS:
        return "kind is not one of " + ", ".join(DEVICE_KINDS)
    if not is_safe_id(str(row.get("gateway") or "")):
        return "gateway missing or not a plain id"
    if row.get("protocol", "opcua") not in DEVICE_PROTOCOLS:
        return "protocol is not opcua or mqtt"
    beat = row.get("heartbeat_s", 300)
    if isinstance(beat, bool) or not isinstance(beat, int) or beat < 1:
        return "heartbeat_s must be a positive whole number of seconds"
    return None


def register_devices(
    session: Session, rows: Iterable[Mapping[str, Any]], *, now: datetime | None = None
) -> Registration:
    """Insert or update devices from an installation list; returns counts, never raises on a row.

    A row: ``device_id``, ``kind``, ``gateway``, ``protocol``, ``building_code``,
    ``resident_id`` (of the person it watches over), ``heartbeat_s``, ``thresholds``.
    """
    now = now or utcnow()
    report = Registration()
    rows = list(rows)
    persons = _person_ids(session, {str(r["resident_id"]) for r in rows if r.get("resident_id")})
    codes = {str(r["building_code"]) for r in rows if r.get("building_code")}
    known_codes = {
        c for (c,) in session.execute(select(GridUnit.code).where(GridUnit.code.in_(sorted(codes))))
    }
    wanted = sorted({str(r.get("device_id")) for r in rows})
    existing: dict[str, Device] = {}
    for start in range(0, len(wanted), 500):
        for device in session.scalars(
            select(Device).where(Device.device_id.in_(wanted[start : start + 500]))
        ):
            existing[device.device_id] = device
    for number, row in enumerate(rows, 1):
        why = _refusal(row)
        if why is not None:
            report.refused.append(f"row {number}: {why}")
            continue
        person_id = persons.get(str(row.get("resident_id") or ""))
        if row.get("resident_id") and person_id is None:
            report.unlinked += 1
        building = row.get("building_code")
        fields = {
            "kind": row["kind"],
            "gateway": row["gateway"],
            "protocol": row.get("protocol", "opcua"),
            "building_code": building if building in known_codes else None,
            "person_id": person_id,
            "heartbeat_s": int(row.get("heartbeat_s", 300)),
            "thresholds": dict(row.get("thresholds") or {}),
            "active": bool(row.get("active", True)),
            "updated_at": now,
        }
        known = existing.get(str(row["device_id"]))
        if known is None:
            device = Device(device_id=str(row["device_id"]), installed_at=now, **fields)
            session.add(device)
            existing[device.device_id] = device
            report.inserted += 1
        else:
            for name, value in fields.items():
                setattr(known, name, value)
            report.updated += 1
    session.flush()
    if report.refused:
        log.warning("device registration refused %d rows", len(report.refused))
    return report


def flush_seen(
    session: Session, updates: Mapping[int, tuple[datetime | None, datetime | None]]
) -> int:
    """Store last-seen and last-activity times: ``{device pk: (seen, activity)}``, one statement."""
    if not updates:
        return 0
    params = [
        {"pk": pk, "seen": seen, "activity": activity}
        for pk, (seen, activity) in sorted(updates.items())
    ]
    stmt = (
        update(Device)
        .where(Device.id == bindparam("pk"))
        .values(
            last_seen_at=func.coalesce(
                bindparam("seen", type_=Device.last_seen_at.type), Device.last_seen_at
            ),
            last_activity_at=func.coalesce(
                bindparam("activity", type_=Device.last_activity_at.type), Device.last_activity_at
            ),
            updated_at=Device.updated_at,  # a heartbeat is not a registry change
        )
    )
    session.connection().execute(stmt, params)
    return len(params)
