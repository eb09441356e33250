"""12345 hotline work orders: who called, from which number, about where.

The hotline knows a caller only by what they say: often just a surname and 先生/女士,
an address in their own words (the estate's name, ``3幢302``), and the number they
called from.  Many callers do not live in the district at all; they get person keys of
their own (``X…``) so the benchmark counts them as people nobody else knows.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import datetime, time, timedelta, timezone
from typing import TYPE_CHECKING

from simulators.district.errors import caller_name
from simulators.district.model import Address, Gender, GridUnit, Household, Person
from simulators.district.numbers import PHONE_OUTSIDER, mobile

if TYPE_CHECKING:
    from simulators.district.views import Record, ViewContext

__all__ = ["ISSUES", "hotline_records"]

#: (category, content template): what residents call about.
ISSUES: tuple[tuple[str, str], ...] = (
    ("噪音扰民", "{place}楼上装修噪音很大，晚上十点后仍在施工，请求处理。"),
    ("垃圾清运", "{place}附近垃圾桶满溢多日无人清运。"),
    ("路灯损坏", "{road}人行道路灯不亮，夜间行走不安全。"),
    ("漏水", "{place}楼道水管漏水，楼下墙面渗水。"),
    ("独居老人求助", "{place}有独居老人行动不便，希望社区上门看看。"),
    ("停车管理", "{place}门口车辆乱停，消防通道被占。"),
    ("物业纠纷", "{place}物业费收费标准不透明，要求公示。"),
    ("电梯故障", "{place}电梯故障停运两天，老人上下楼困难。"),
    ("邻里纠纷", "与邻居因空调外机噪音发生纠纷，请社区调解。"),
    ("养老服务", "咨询居家养老服务补贴如何申请。"),
)
_CHINA = timezone(timedelta(hours=8))
_RESIDENT_CALLS = 0.025  # share of adult residents who called in the period
_OUTSIDER_SHARE = 0.37  # of work orders, from people who do not live in the district


def _spoken(address: Address, estate: str, rng: random.Random) -> str:
    """An address as a caller says it."""
    r = rng.random()
    if r < 0.35:
        return estate + address.building + address.unit + address.room
    if r < 0.55:
        return address.road + address.lane + address.number
    if r < 0.75:
        return address.district + address.street + estate
    return address.postal


def _when(as_of: datetime, rng: random.Random) -> str:
    moment = as_of - timedelta(seconds=rng.randrange(90 * 86_400))
    return moment.replace(second=0).isoformat()


def _order(
    rng: random.Random, ctx: ViewContext, address: Address, estate: str
) -> dict[str, str | None]:
    category, template = ISSUES[rng.randrange(len(ISSUES))]
    place = estate + address.building
    return {
        "category": category,
        "content": template.format(place=place, road=address.road),
        "created_at": _when(datetime.combine(ctx.as_of, time(0), _CHINA), rng),
    }


def _caller(person: Person, household: Household, rng: random.Random) -> tuple[str, str | None]:
    name = person.name if rng.random() < 0.5 else caller_name(person.name, person.gender)
    r = rng.random()
    phone = person.phone if r < 0.85 or not household.landline else household.landline
    return name, phone or household.landline or None


def hotline_records(
    grid: GridUnit, households: Sequence[Household], ctx: ViewContext, rng: random.Random
) -> Iterator[Record]:
    records: list[Record] = []
    serial = 0
    for household in households:
        estate = ctx.estates[household.address.building_code]
        for person in household.residents:
            if person.age(ctx.as_of) < 18 or rng.random() >= _RESIDENT_CALLS:
                continue
            for _ in range(rng.choices((1, 2, 3), (0.7, 0.22, 0.08))[0]):
                serial += 1
                name, phone = _caller(person, household, rng)
                fields: dict[str, str | None] = {
                    "name": name,
                    "phone": phone,
                    "address": _spoken(household.address, estate, rng),
                    **_order(rng, ctx, household.address, estate),
                }
                records.append((person.key, person, f"GD{grid.code}{serial:04d}", fields))
    outsiders = round(len(records) * _OUTSIDER_SHARE / (1 - _OUTSIDER_SHARE))
    base = PHONE_OUTSIDER + ctx.grid_index[grid.code] * 1_000
    for k in range(min(outsiders, 999)):
        serial += 1
        where = households[rng.randrange(len(households))].address if households else None
        gender: Gender = "M" if rng.random() < 0.5 else "F"
        full = ctx.names.full(rng, gender, rng.randint(1950, 2004))
        name = full if rng.random() < 0.4 else caller_name(full, gender)
        fields = {"name": name, "phone": mobile(base + k, rng.randrange(64))}
        if where is not None:
            estate = ctx.estates[where.building_code]
            fields["address"] = _spoken(where, estate, rng) if rng.random() < 0.6 else None
            fields.update(_order(rng, ctx, where, estate))
        records.append((f"X{grid.code}{k + 1:04d}", None, f"GD{grid.code}{serial:04d}", fields))
    records.sort(key=lambda r: r[3].get("created_at") or "")
    yield from records
