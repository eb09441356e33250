"""Turning a grid's household plan into people: names, IDs, phones, addresses, tags.

One ``Populator`` serves one pass over the district in grid order, because resident-ID
sequence numbers are counted across the whole pass; everything else a grid needs comes
from its own seeded generator, so a pass always yields the same people.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence
from datetime import date, timedelta

from simulators.district.geography import outside_address
from simulators.district.households import KINDS, Member, Plan, compose
from simulators.district.model import TAGS, Address, Building, GridUnit, Household, Person
from simulators.district.names import NameSampler
from simulators.district.numbers import PHONE_PREVIOUS, IdAllocator, landline, mobile
from simulators.district.spec import OTHER_REGIONS, DistrictSpec, Region

__all__ = ["Populator"]

_MIGRANT_SHARE = 0.11  # households registered in their home county (人户分离)
_MOVED_REGISTRATION = 0.045  # local households registered at another flat in the district
_ADULT_REGISTERED_ELSEWHERE = 0.07  # young adults with a collective or parents' registration
_ZHEJIANG = tuple(r for r in OTHER_REGIONS if r.code.startswith("33"))
_ELSEWHERE = tuple(r for r in OTHER_REGIONS if not r.code.startswith("33"))
_BIG_CITIES = tuple(r for r in OTHER_REGIONS if r.county.endswith("区"))


def _phone_share(age: int) -> float:
    if age < 12:
        return 0.0
    if age < 18:
        return 0.6
    if age < 70:
        return 0.98
    return 0.8 if age < 80 else 0.45


def _disabled_share(age: int) -> float:
    if age < 18:
        return 0.005
    if age < 60:
        return 0.015
    return 0.05 if age < 80 else 0.12


class Populator:
    """Builds households grid by grid for one pass over the district."""

    def __init__(
        self,
        spec: DistrictSpec,
        as_of: date,
        buildings: Sequence[Building],
        names: NameSampler,
    ) -> None:
        self.spec = spec
        self.as_of = as_of
        self._buildings = buildings
        self._names = names
        self._ids = IdAllocator()
        self._anniversaries: dict[int, int] = {}
        self._local = spec.region_code
        self._nearby = spec.nearby or (spec.region_code,)

    def grid(
        self,
        grid: GridUnit,
        plans: Sequence[Plan],
        buildings: Sequence[Building],
        rng: random.Random,
        first_person: int,
        first_household: int,
    ) -> list[Household]:
        """The households of ``grid``; serials number persons and households district-wide."""
        cumulative = list(itertools.accumulate(b.capacity for b in buildings))
        flats = sorted(rng.sample(range(cumulative[-1]), len(plans)))
        serial = first_person
        result: list[Household] = []
        for index, (plan, flat) in enumerate(zip(plans, flats, strict=True)):
            b = bisect.bisect_right(cumulative, flat)
            offset = flat - (cumulative[b - 1] if b else 0)
            address = buildings[b].flat(offset)
            household_serial = first_household + index
            household = self._household(
                grid, plan, address, f"{grid.code}{index + 1:04d}", household_serial, serial, rng
            )
            serial += len(household.members)
            result.append(household)
        return result

    def _household(
        self,
        grid: GridUnit,
        plan: Plan,
        address: Address,
        household_no: str,
        household_serial: int,
        first_serial: int,
        rng: random.Random,
    ) -> Household:
        members = compose(rng, plan)
        migrant = rng.random() < _MIGRANT_SHARE
        home: Region | None = None
        registered = address
        if migrant:
            home = rng.choice(_ELSEWHERE if rng.random() < 0.75 else _ZHEJIANG)
            registered = outside_address(home, rng)
        elif rng.random() < _MOVED_REGISTRATION:
            registered = self._flat_elsewhere(rng, address)
        oldest = max(m.age for m in members)
        has_phone = rng.random() < (0.6 if oldest >= 70 else 0.22)
        household = Household(
            household_no,
            grid.code,
            address,
            KINDS[plan.kind],
            landline(self.spec.area_code, household_serial) if has_phone else "",
        )
        surnames: list[str] = []
        for i, member in enumerate(members):
            link = member.surname_of
            surname = surnames[link] if 0 <= link < i else self._names.surname(rng)
            surnames.append(surname)
            person_registered = registered
            if (
                home is None
                and registered is address
                and member.relation == "子女"
                and 18 <= member.age <= 40
                and rng.random() < _ADULT_REGISTERED_ELSEWHERE
            ):
                person_registered = self._flat_elsewhere(rng, address)
            person = self._person(
                rng, member, surname, first_serial + i, household, person_registered, home
            )
            household.members.append(person)
        ages = [m.age for m in members]
        self._statuses(rng, household, ages)
        self._tag(rng, household, ages)
        return household

    def _flat_elsewhere(self, rng: random.Random, own: Address) -> Address:
        while True:
            b = self._buildings[rng.randrange(len(self._buildings))]
            flat = b.flat(rng.randrange(b.capacity))
            if flat != own:
                return flat

    def _region(self, rng: random.Random, age: int, home: Region | None) -> str:
        if home is not None:
            return home.code
        r = rng.random()
        if r < (0.92 if age < 30 else 0.70):
            return self._local
        if r < (0.97 if age < 30 else 0.82):
            return self._nearby[rng.randrange(len(self._nearby))]
        pool = _ZHEJIANG if r < 0.90 else _ELSEWHERE
        return pool[rng.randrange(len(pool))].code

    def _birth(self, rng: random.Random, age: int) -> date:
        """A birth date ``age`` years (and 0-364 days) before ``as_of``: exactly ``age``
        years old on that day."""
        anniversary = self._anniversaries.get(age)
        if anniversary is None:
            as_of = self.as_of
            day = min(as_of.day, 28) if as_of.month == 2 else as_of.day
            anniversary = date(as_of.year - age, as_of.month, day).toordinal()
            self._anniversaries[age] = anniversary
        return date.fromordinal(anniversary - rng.randrange(365))

    def _person(
        self,
        rng: random.Random,
        member: Member,
        surname: str,
        serial: int,
        household: Household,
        registered: Address,
        home: Region | None,
    ) -> Person:
        age = member.age
        born = self._birth(rng, age)
        gender = member.gender
        phone = previous = ""
        if rng.random() < _phone_share(age):
            phone = mobile(serial, rng.randrange(64))
            if rng.random() < 0.2:
                previous = mobile(PHONE_PREVIOUS + serial, rng.randrange(64))
        return Person(
            f"P{serial + 1:08d}",
            surname + self._names.given(rng, gender, born.year),
            self._ids.issue(self._region(rng, age, home), born, gender),
            gender,
            born,
            household.household_no,
            member.relation,
            phone,
            previous,
            household.landline,
            household.address,
            registered,
            registered is not household.address,
            "active",
            None,
            household.grid_code,
        )

    def _statuses(self, rng: random.Random, household: Household, ages: list[int]) -> None:
        """A few die, a few grown children move away; at most one death per household,
        so a couple leaves a survivor: widowhood is the usual path to living alone."""
        members = household.members
        deceased = False
        for person, age in zip(members, ages, strict=True):
            if person.relation == "子女" and age >= 20 and rng.random() < 0.12:
                person.status = "moved_out"
                person.residence = outside_address(rng.choice(_BIG_CITIES), rng)
                person.separated = False
                continue
            p_death = 0.02 if age >= 70 else 0.0005
            if len(members) == 1:
                p_death /= 4
            if not deceased and rng.random() < p_death:
                deceased = True
                person.status = "deceased"
                died = self.as_of - timedelta(days=rng.randrange(1, 730))
                person.death_date = max(died, person.birth_date + timedelta(days=1))
                person.separated = False

    def _tag(self, rng: random.Random, household: Household, ages: list[int]) -> None:
        members = household.members
        tags: list[set[str]] = []
        for person, age in zip(members, ages, strict=True):
            own: set[str] = set()
            if age >= 60:
                own.add("elderly")
                if age >= 80:
                    own.add("aged_80_plus")
            if rng.random() < _disabled_share(age):
                own.add("disabled")
            if person.status != "active":
                own.add(person.status)
            tags.append(own)
        residents = [i for i, p in enumerate(members) if p.status == "active"]
        if len(residents) == 1 and ages[residents[0]] >= 60:
            tags[residents[0]].add("living_alone")
        vulnerable = any("disabled" in tags[i] or "living_alone" in tags[i] for i in residents)
        if residents and rng.random() < (0.055 if vulnerable else 0.018):
            for i in residents:
                tags[i].add("dibao")
        elif len(residents) == 1 and vulnerable and rng.random() < 0.06:
            tags[residents[0]].add("tekun")
        for person, own in zip(members, tags, strict=True):
            person.tags = tuple(t for t in TAGS if t in own) if own else ()
