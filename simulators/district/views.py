"""Each source's own view of one grid: which people it knows, in its own spelling.

A builder yields what the source would hold if it were perfect; ``grid_rows`` then applies
the source profile's errors.  Sources see different subsets (the register everyone
registered here, civil affairs only beneficiaries, utilities one account per flat) and
different addresses (registered vs residential), as the real systems do.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from simulators.district.hotline import hotline_records
from simulators.district.model import GridUnit, Household, Person, SourceRow
from simulators.district.names import NameSampler
from simulators.district.noise import apply_errors
from simulators.district.sources import SourceProfile
from simulators.district.spec import DistrictSpec

__all__ = ["Record", "ViewContext", "grid_rows"]

#: (person_key, person or None for people outside the district, source_key, true fields)
Record = tuple[str, Person | None, str, dict[str, str | None]]


@dataclass(frozen=True, slots=True)
class ViewContext:
    """District-wide facts a view needs besides the grid's households."""

    seed: int
    as_of: date
    spec: DistrictSpec
    estates: Mapping[str, str]
    names: NameSampler
    grid_index: Mapping[str, int]


def _scramble(person: Person, salt: int = 0) -> int:
    """An opaque 9-digit number per person (bijective), so source keys reveal nothing."""
    return ((int(person.key[1:]) + salt) * 7_919 + 104_729) % 10**9


_HUKOU_STATUS = {"active": "正常", "deceased": "死亡注销", "moved_out": "迁出"}


def _hukou(
    grid: GridUnit, households: Sequence[Household], ctx: ViewContext, rng: random.Random
) -> Iterator[Record]:
    for household in households:
        for p in household.members:
            if not p.registered_here:
                continue
            own_flat = p.registered == household.address or p.status == "moved_out"
            moved = ctx.as_of - timedelta(days=rng.randrange(30, 2000))
            status_date = (
                p.death_date if p.death_date else (moved if p.status != "active" else None)
            )
            fields: dict[str, str | None] = {
                "name": p.name,
                "id_number": p.id_number,
                "gender": "男" if p.gender == "M" else "女",
                "birth_date": p.birth_date.isoformat(),
                "address": p.registered.full,
                "household_no": p.household_no if own_flat else _collective_no(p),
                "relation": p.relation if own_flat else "其他",
                "status": _HUKOU_STATUS[p.status],
                "status_date": status_date.isoformat() if status_date else None,
            }
            yield p.key, p, f"HK{_scramble(p):09d}", fields


def _collective_no(p: Person) -> str:
    """The 户号 of the flat a separated resident is registered at (not their own)."""
    room = "".join(c for c in p.registered.room if c.isdigit())
    return f"{p.registered.building_code}{int(room or 0):04d}"


# tag → (category code, label, address is the registered one)
_CATEGORIES: tuple[tuple[str, str, str, bool], ...] = (
    ("dibao", "01", "最低生活保障", True),
    ("tekun", "02", "特困人员供养", True),
    ("disabled", "03", "残疾人两项补贴", True),
    ("aged_80_plus", "04", "高龄津贴", False),
    ("living_alone", "05", "独居老人关爱", False),
    ("deceased", "06", "殡葬服务登记", False),
)


def _civil_affairs(
    grid: GridUnit, households: Sequence[Household], ctx: ViewContext, rng: random.Random
) -> Iterator[Record]:
    for household in households:
        for p in household.members:
            if p.status == "moved_out" or not p.tags:
                continue
            for tag, code, label, registered in _CATEGORIES:
                if tag not in p.tags or (tag == "aged_80_plus" and p.status != "active"):
                    continue
                start = ctx.as_of - timedelta(days=rng.randrange(30, 3650))
                if tag == "deceased" and p.death_date:
                    start = p.death_date + timedelta(days=rng.randrange(1, 15))
                address = p.registered if registered and p.registered_here else p.residence
                status = "已故" if tag == "deceased" else ("停发" if p.death_date else "在册")
                fields: dict[str, str | None] = {
                    "name": p.name,
                    "id_number": p.id_number,
                    "gender": "1" if p.gender == "M" else "2",
                    "birth_date": p.birth_date.isoformat(),
                    "phone": p.phone or p.landline or None,
                    "address": address.city + address.district + address.postal_tail,
                    "category": label,
                    "start_date": min(start, ctx.as_of).isoformat(),
                    "status": status,
                }
                yield p.key, p, f"MZ{_scramble(p):09d}{code}", fields


def _health(
    grid: GridUnit, households: Sequence[Household], ctx: ViewContext, rng: random.Random
) -> Iterator[Record]:
    """Patients of the district's clinics; some are registered twice (two hospitals),
    the second time often without an ID number."""
    for household in households:
        for p in household.members:
            age = p.age(ctx.as_of)
            if p.status == "active":
                coverage = 0.65 if age < 60 else 0.92
            else:
                coverage = 0.6 if p.status == "deceased" else 0.2
            if rng.random() >= coverage:
                continue
            fields: dict[str, str | None] = {
                "name": p.name,
                "id_number": p.id_number,
                "gender": "male" if p.gender == "M" else "female",
                "birth_date": p.birth_date.isoformat(),
                "phone": p.phone or p.landline or None,
                "address": p.residence.postal,
                "deceased_date": p.death_date.isoformat() if p.death_date else None,
            }
            yield p.key, p, f"PT{_scramble(p):09d}", fields
            if rng.random() < 0.03:
                twin = dict(fields)
                if rng.random() < 0.6:
                    twin["id_number"] = None
                yield p.key, p, f"PT{_scramble(p, 500_000_000):09d}", twin


def _utility(
    grid: GridUnit, households: Sequence[Household], ctx: ViewContext, rng: random.Random
) -> Iterator[Record]:
    """One account per occupied flat, in the name of whoever opened it, dead or alive."""
    for household in households:
        adults = [p for p in household.members if p.age(ctx.as_of) >= 18] or household.members
        deceased = [p for p in adults if p.status == "deceased"]
        if deceased and rng.random() < 0.6:
            holder = deceased[0]
        elif rng.random() < 0.55:
            holder = household.head
        else:
            holder = adults[rng.randrange(len(adults))]
        opened = ctx.as_of - timedelta(days=rng.randrange(200, 7300))
        fields: dict[str, str | None] = {
            "name": holder.name,
            "phone": holder.phone or household.landline or None,
            "address": household.address.district + household.address.postal_tail,
            "meter_no": f"M{household.household_no}",
            "opened_on": opened.isoformat(),
        }
        yield holder.key, holder, f"SD{household.household_no}", fields


_Builder = Callable[[GridUnit, Sequence[Household], ViewContext, random.Random], Iterator[Record]]
_BUILDERS: dict[str, _Builder] = {
    "hukou": _hukou,
    "civil_affairs": _civil_affairs,
    "hotline": hotline_records,
    "health": _health,
    "utility": _utility,
}


def grid_rows(
    profile: SourceProfile,
    grid: GridUnit,
    households: Sequence[Household],
    ctx: ViewContext,
) -> Iterator[SourceRow]:
    """The rows ``profile``'s source holds about ``grid``, errors applied."""
    try:
        builder = _BUILDERS[profile.name]
    except KeyError:
        raise ValueError(f"unknown source {profile.name!r}; known: {sorted(_BUILDERS)}") from None
    # Two generators: what the source holds must not shift when its error rates change,
    # so that a clean profile shows the same records, only correct.
    rng = random.Random(f"{ctx.seed}:{profile.name}:{grid.code}")
    noise = random.Random(f"{ctx.seed}:{profile.name}:{grid.code}:errors")
    for person_key, person, source_key, truth in builder(grid, households, ctx, rng):
        fields = apply_errors(truth, person, profile.errors, noise)
        yield SourceRow(
            profile.name,
            profile.stream,
            source_key,
            person_key,
            {name: fields.get(name) for name in profile.fields},
        )
