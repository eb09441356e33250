"""The ground-truth records of the synthetic district.

Plain slotted dataclasses rather than ORM entities: a million persons are created per run,
and the simulators must not depend on the canonical store.  Treat every instance as
read-only once the generator has handed it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

__all__ = [
    "TAGS",
    "Address",
    "Building",
    "Gender",
    "GridUnit",
    "Household",
    "Organisation",
    "Person",
    "SourceRow",
    "Status",
    "Worker",
]

Status = Literal["active", "moved_out", "deceased"]
Gender = Literal["M", "F"]

#: Tags in the order they are written, so the ``tags`` column is deterministic.
TAGS: tuple[str, ...] = (
    "elderly",
    "aged_80_plus",
    "living_alone",
    "disabled",
    "dibao",
    "tekun",
    "deceased",
    "moved_out",
)


@dataclass(frozen=True, slots=True)
class Address:
    """A structured address, parts as they are written (``259号``, ``3幢``, ``302室``).

    The parts follow ``canonical_model.geography.Address`` so a source row can be compared
    with the truth part by part.  ``building_code`` is empty for addresses outside the
    district.
    """

    province: str
    city: str
    district: str
    street: str = ""
    community: str = ""
    road: str = ""
    lane: str = ""
    number: str = ""
    building: str = ""
    unit: str = ""
    room: str = ""
    building_code: str = ""

    @property
    def full(self) -> str:
        """Every part, in order: how the household register writes it."""
        return (
            self.province
            + self.city
            + self.district
            + self.street
            + self.community
            + self.postal_tail
        )

    @property
    def postal(self) -> str:
        """Without subdistrict and community: how most other systems write it."""
        return self.province + self.city + self.district + self.postal_tail

    @property
    def postal_tail(self) -> str:
        return self.road + self.lane + self.number + self.building + self.unit + self.room


@dataclass(frozen=True, slots=True)
class GridUnit:
    """District, subdistrict, community or grid; buildings are ``Building``."""

    code: str
    name: str
    level: Literal["district", "subdistrict", "community", "grid"]
    parent_code: str
    town: bool = False


@dataclass(frozen=True, slots=True)
class Building:
    """A residential building (楼栋) in an estate (小区): ``address`` stops at the building."""

    code: str
    grid_code: str
    estate: str
    address: Address
    units: int
    floors: int
    per_floor: int

    @property
    def capacity(self) -> int:
        return self.units * self.floors * self.per_floor

    def flat(self, index: int) -> Address:
        """The ``index``-th flat (0 ≤ index < capacity): unit-major, then floor, then door."""
        unit, rest = divmod(index, self.floors * self.per_floor)
        floor, door = divmod(rest, self.per_floor)
        a = self.address
        return Address(
            a.province,
            a.city,
            a.district,
            a.street,
            a.community,
            a.road,
            a.lane,
            a.number,
            a.building,
            f"{unit + 1}单元" if self.units > 1 else "",
            f"{(floor + 1) * 100 + door + 1}室",
            self.code,
        )


@dataclass(slots=True)
class Person:
    """One real resident (or former resident) of the district.

    ``residence`` is where they live (or lived, for the deceased); ``registered`` is their
    户籍 address.  ``separated`` (人户分离) is true when the two differ.  ``previous_phone``
    is the number stale source records still carry.
    """

    key: str
    name: str
    id_number: str
    gender: Gender
    birth_date: date
    household_no: str
    relation: str
    phone: str
    previous_phone: str
    landline: str
    residence: Address
    registered: Address
    separated: bool
    status: Status
    death_date: date | None
    grid_code: str
    tags: tuple[str, ...] = ()

    def age(self, on: date) -> int:
        born = self.birth_date
        return on.year - born.year - ((on.month, on.day) < (born.month, born.day))

    @property
    def registered_here(self) -> bool:
        """Whether the district's household register holds this person."""
        return self.registered.building_code != ""


@dataclass(slots=True)
class Household:
    """A 户: the people living in one flat, with the head (户主) first."""

    household_no: str
    grid_code: str
    address: Address
    kind: str
    landline: str
    members: list[Person] = field(default_factory=list)

    @property
    def head(self) -> Person:
        return self.members[0]

    @property
    def residents(self) -> list[Person]:
        """Members who still live here (not deceased, not moved out)."""
        return [p for p in self.members if p.status == "active"]


@dataclass(frozen=True, slots=True)
class Worker:
    """A grid worker (网格员)."""

    worker_id: str
    name: str
    gender: Gender
    phone: str
    grid_code: str
    role: str


@dataclass(frozen=True, slots=True)
class Organisation:
    """A social organisation (社会组织) the workflow can hand tasks to."""

    org_id: str
    name: str
    credit_code: str
    categories: tuple[str, ...]
    communities: tuple[str, ...]
    contact_name: str
    phone: str


@dataclass(frozen=True, slots=True)
class SourceRow:
    """What one source system holds about one person (or one account, one call).

    ``fields`` uses the resolution column names where a field has that meaning (``name``,
    ``id_number``, ``birth_date``, ``gender``, ``phone``, ``address``) in the source's own
    spelling (``男``, ``2``, ``female``…); ``None`` is a field the record leaves empty.
    ``person_key`` is the ground truth: the resolution engine must never see it.
    """

    source: str
    stream: str
    source_key: str
    person_key: str
    fields: Mapping[str, str | None]
