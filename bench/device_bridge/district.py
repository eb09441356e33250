"""The synthetic district in the canonical store, as far as the device benchmark needs it.

Grid units down to buildings, two on-duty grid workers per grid and a community admin, and
the people the devices watch over (resident ID, birth date, tags, home address): what the
hukou sync and resolution would have put there, written directly so the benchmark measures
the bridge and not the rest of the hub.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import Address, GridLevel, GridUnit, Person, new_uid
from canonical_model.roster import GridWorker
from canonical_model.store import transaction
from device_bridge import register_devices
from simulators.devices import DeviceSpec
from simulators.district import District


def seed_store(
    sessions: sessionmaker[Session], district: District, specs: Sequence[DeviceSpec]
) -> int:
    """Geography, roster, the watched people and the device registry; returns people added."""
    now = datetime.now(UTC)
    wanted = {s.resident_id for s in specs if s.resident_id}
    units: list[dict[str, Any]] = [
        {
            "code": u.code,
            "name": u.name,
            "level": GridLevel(u.level),
            "parent_code": u.parent_code or None,
            "created_at": now,
        }
        for u in district.units
    ]
    units += [
        {
            "code": b.code,
            "name": b.estate + b.address.building,
            "level": GridLevel.BUILDING,
            "parent_code": b.grid_code,
            "created_at": now,
        }
        for b in district.buildings
    ]
    levels = [
        GridLevel.DISTRICT,
        GridLevel.SUBDISTRICT,
        GridLevel.COMMUNITY,
        GridLevel.GRID,
        GridLevel.BUILDING,
    ]
    units.sort(key=lambda row: levels.index(row["level"]))
    with transaction(sessions) as s:
        s.execute(insert(GridUnit), units)
        grids = [u for u in district.units if u.level == "grid"]
        s.add_all(
            GridWorker(code=f"W{g.code}{k}", name="w", grid_code=g.code)
            for g in grids
            for k in (1, 2)
        )
        s.add_all(
            GridWorker(code=f"CA{u.code}", name="ca", grid_code=u.code, role="community_admin")
            for u in district.units
            if u.level == "community"
        )
        people = 0
        for person in district.persons():
            if person.id_number not in wanted:
                continue
            home = Address(
                normalized=person.residence.full,
                building_code=person.residence.building_code or None,
            )
            s.add(home)
            s.flush()
            s.add(
                Person(
                    uid=new_uid(),
                    resident_id=person.id_number,
                    birth_date=person.birth_date,
                    grid_code=person.grid_code,
                    residential_address_id=home.id,
                    tags=list(person.tags),
                )
            )
            people += 1
        report = register_devices(s, [spec.manifest_row() for spec in specs])
        assert not report.refused, report.refused[:3]
    return people
