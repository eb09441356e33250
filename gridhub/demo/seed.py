"""What the district owns that no source sync brings: its map, its roster and its rules.

The grid hierarchy down to buildings (with one address row per building, so resolution and
the producers can place a resident or a call in a grid), the grid workers (网格员), one
community admin per community and the district admin, the social organisations that take
orders, and the rules file in force — all written in one transaction of the canonical
store, the way a district loads them once from its own registers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select

from canonical_model import Address, GridLevel, GridUnit
from canonical_model.roster import GridWorker, ServiceOrganisation
from canonical_model.store import make_engine, session_factory, transaction, upgrade

if TYPE_CHECKING:
    from simulators.district import District

__all__ = ["DEMO_WORKER_ROLE", "seed_store"]

#: The district's full-time grid workers take tasks; the part-time ones stand by off duty.
DEMO_WORKER_ROLE = "grid_worker"
_LEVELS = (
    GridLevel.DISTRICT,
    GridLevel.SUBDISTRICT,
    GridLevel.COMMUNITY,
    GridLevel.GRID,
    GridLevel.BUILDING,
)
_ADDRESS_PARTS = (
    "province", "city", "district", "street", "community",
    "road", "lane", "number", "building",
)  # fmt: skip


def seed_store(database_url: str, district: District) -> dict[str, int]:
    """Migrate the store and load the district's geography, roster and rules (once: a
    store that already holds the district's root unit is left as it is)."""
    from workflow.rule_versions import DEFAULT_RULES, load_rules

    engine = make_engine(database_url)
    try:
        upgrade(engine)
        sessions = session_factory(engine)
        with transaction(sessions) as s:
            if s.get(GridUnit, district.spec.region_code) is not None:
                return {"grid_units": int(s.scalar(select(func.count(GridUnit.code))) or 0)}
            counts = _geography(s, district)
            counts |= _roster(s, district)
            rules = load_rules(
                s,
                DEFAULT_RULES.read_text(encoding="utf-8"),
                loaded_by="gridhub-demo",
                source_name=DEFAULT_RULES.name,
            )
            counts["rules_version"] = rules.version
        return counts
    finally:
        engine.dispose()


def _geography(s: Any, district: District) -> dict[str, int]:
    now = datetime.now(UTC)
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
    units.sort(key=lambda row: _LEVELS.index(row["level"]))
    s.execute(insert(GridUnit), units)
    addresses = [
        {
            "normalized": b.address.full,
            "building_code": b.code,
            **{part: getattr(b.address, part) or None for part in _ADDRESS_PARTS},
        }
        for b in district.buildings
    ]
    s.execute(insert(Address), addresses)
    return {"grid_units": len(units), "building_addresses": len(addresses)}


def _roster(s: Any, district: District) -> dict[str, int]:
    workers = [
        GridWorker(
            code=w.worker_id,
            name=w.name,
            phone=w.phone,
            grid_code=w.grid_code,
            role=DEMO_WORKER_ROLE,
            on_duty=w.role == "专职网格员",
        )
        for w in district.workers
    ]
    admins = [
        GridWorker(code=f"CA{u.code}", name=f"{u.name}管理员", grid_code=u.code,
                   role="community_admin")
        for u in district.units
        if u.level == "community"
    ]  # fmt: skip
    admins.append(
        GridWorker(
            code=f"DA{district.spec.region_code}",
            name=f"{district.spec.district}管理员",
            grid_code=district.spec.region_code,
            role="district_admin",
        )
    )
    organisations = [
        ServiceOrganisation(
            code=o.org_id,
            name=o.name,
            credit_code=o.credit_code,
            phone=o.phone,
            categories=list(o.categories),
            area_codes=list(o.communities),
        )
        for o in district.organisations
    ]
    s.add_all([*workers, *admins, *organisations])
    return {
        "grid_workers": len(workers),
        "admins": len(admins),
        "organisations": len(organisations),
    }
