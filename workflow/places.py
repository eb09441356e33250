"""Where an event happened, in grid terms: building → grid → community → district.

Grid-unit codes are hierarchical (district 6 digits, subdistrict 9, community 12, grid 15,
building 18), so every ancestor of a code is one of its prefixes and one query finds the
most specific unit that actually exists. An event with no usable place still gets a place:
the district, so it lands in a human's queue instead of nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from canonical_model import Address, GridLevel, GridUnit, Person

__all__ = [
    "LEVEL_LENGTHS",
    "Place",
    "ancestor",
    "home_district",
    "locate",
    "place_of",
]

#: Code length per level of the hierarchy.
LEVEL_LENGTHS: dict[str, int] = {
    GridLevel.DISTRICT: 6,
    GridLevel.SUBDISTRICT: 9,
    GridLevel.COMMUNITY: 12,
    GridLevel.GRID: 15,
    GridLevel.BUILDING: 18,
}


@dataclass(frozen=True, slots=True)
class Place:
    """The most specific known unit, at grid level or above (never a building)."""

    code: str
    level: str

    @property
    def is_grid(self) -> bool:
        return self.level == GridLevel.GRID

    @property
    def community(self) -> str | None:
        return ancestor(self.code, GridLevel.COMMUNITY)

    @property
    def district(self) -> str:
        return self.code[: LEVEL_LENGTHS[GridLevel.DISTRICT]]


def ancestor(code: str, level: str) -> str | None:
    """The code of ``code``'s ancestor at ``level``, or None when ``code`` is above it."""
    n = LEVEL_LENGTHS[level]
    return code[:n] if len(code) >= n else None


def place_of(code: str) -> Place:
    """The place a stored code stands for, read from its length (a building → its grid)."""
    grid = LEVEL_LENGTHS[GridLevel.GRID]
    code = code[:grid]
    level = next((lv for lv, n in LEVEL_LENGTHS.items() if n == len(code)), GridLevel.DISTRICT)
    return Place(code, str(level))


# Built once: ``locate`` runs for every event raised.
_UNITS = select(GridUnit.code, GridUnit.level).where(
    GridUnit.code.in_(bindparam("codes", expanding=True))
)
_ADDRESS_BUILDING = select(Address.building_code).where(Address.id == bindparam("address_id"))
_PERSON_HOME = (
    select(Person.grid_code, Address.building_code)
    .outerjoin(Address, Address.id == Person.residential_address_id)
    .where(Person.id == bindparam("person_id"))
)


def _most_specific(session: Session, code: str) -> Place | None:
    prefixes = [code[:n] for n in sorted(LEVEL_LENGTHS.values(), reverse=True) if n <= len(code)]
    grid_len = LEVEL_LENGTHS[GridLevel.GRID]
    prefixes = [p for p in prefixes if len(p) <= grid_len]  # a building's place is its grid
    if not prefixes:
        return None
    found = {code: level for code, level in session.execute(_UNITS, {"codes": prefixes})}
    for prefix in prefixes:
        if prefix in found:
            return Place(prefix, str(found[prefix]))
    return None


def home_district(session: Session) -> Place | None:
    """The hub's district when the store holds exactly one: the catch-all for the unknown."""
    codes = session.scalars(
        select(GridUnit.code).where(GridUnit.level == GridLevel.DISTRICT).limit(2)
    ).all()
    return Place(codes[0], GridLevel.DISTRICT) if len(codes) == 1 else None


def locate(
    session: Session,
    *,
    grid_code: str | None = None,
    address_id: int | None = None,
    person_id: int | None = None,
) -> Place | None:
    """The most specific unit named by the given code, the address's building, or the
    person's home building or grid; None when none of them is a known unit."""
    candidates: list[str] = []
    if grid_code:
        candidates.append(grid_code)
    if address_id is not None:
        building = session.scalar(_ADDRESS_BUILDING, {"address_id": address_id})
        if building:
            candidates.append(building)
    if person_id is not None:
        row = session.execute(_PERSON_HOME, {"person_id": person_id}).first()
        if row is not None:
            candidates.extend(c for c in (row.building_code, row.grid_code) if c)
    best: Place | None = None
    for code in candidates:
        place = _most_specific(session, code)
        if place is not None and (best is None or len(place.code) > len(best.code)):
            best = place
    return best
