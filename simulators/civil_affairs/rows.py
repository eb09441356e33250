"""The district's civil-affairs view, laid out as the legacy database's rows.

``District.view("civil_affairs")`` gives one record per person and benefit, with the
clerks' errors already made (mistyped and transposed ID digits, homophones, traditional
script, full-width digits, abbreviated addresses, stale phones). This module keeps those
values as they are and adds what the tables hold beyond the view — the 低保 household and
its amount, the 特困 support mode, the disability category and grade, the death date —
drawn from a generator seeded per grid, so the same district always gives the same rows.

Stamps imitate a system migrated in 2023: every case older than the migration carries the
migration's single instant (thousands of rows, one second), newer ones the moment a clerk
saved them; the members of one 低保 household are saved together.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from simulators.district import District, Household, Person, SourceRow

__all__ = ["CATEGORY_TABLES", "MIGRATED_AT", "Row", "SimRow", "district_rows"]

Row = dict[str, Any]

#: The view's benefit category → the table that holds it (独居老人关爱 has no table here:
#: it is a community service, not a civil-affairs benefit).
CATEGORY_TABLES = {
    "最低生活保障": "dibao",
    "特困人员供养": "tekun",
    "高龄津贴": "elderly_allowance",
    "残疾人两项补贴": "disability",
    "殡葬服务登记": "deaths",
}
MIGRATED_AT = datetime(2023, 6, 30, 2, 0, 0)
_DISABILITY: tuple[tuple[str, int, int], ...] = (
    ("视力", 1, 12),
    ("听力", 2, 10),
    ("言语", 3, 2),
    ("肢体", 4, 50),
    ("智力", 5, 8),
    ("精神", 6, 12),
    ("多重", 7, 6),
)
_DIBAO_STANDARD = 1280  # 元 per person and month (Hangzhou, 2024)


@dataclass(frozen=True, slots=True)
class SimRow:
    """One row for ``table``; ``person_key`` is the truth, never written to the database."""

    table: str
    person_key: str
    values: Row


def _stamp(day: date, rng: random.Random) -> datetime:
    if datetime.combine(day, datetime.min.time()) < MIGRATED_AT:
        return MIGRATED_AT
    return datetime.combine(day, datetime.min.time()) + timedelta(
        seconds=8 * 3600 + 1800 + rng.randrange(9 * 3600)
    )


def _common(row: SourceRow) -> Row:
    f = row.fields
    born = f.get("birth_date")
    return {
        "case_no": row.source_key,
        "name": f.get("name"),
        "id_number": f.get("id_number"),
        "gender": f.get("gender"),
        "birth_date": date.fromisoformat(born) if born else None,
        "phone": f.get("phone"),
        "address": f.get("address"),
    }


def _age_band(person: Person, on: date) -> tuple[str, Decimal]:
    age = person.age(on)
    if age >= 100:
        return "100周岁以上", Decimal("500.00")
    if age >= 90:
        return "90-99周岁", Decimal("300.00")
    return "80-89周岁", Decimal("100.00")


def _grid_rows(
    district: District, grid_code: str, households: list[Household], rows: list[SourceRow]
) -> Iterator[SimRow]:
    rng = random.Random(f"{district.seed}:civil_affairs_db:{grid_code}")
    people = {p.key: (p, h) for h in households for p in h.members}
    dibao: dict[str, list[SourceRow]] = {}
    for row in rows:
        table = CATEGORY_TABLES.get(row.fields.get("category") or "")
        if table is None:
            continue
        person, household = people[row.person_key]
        start = date.fromisoformat(row.fields.get("start_date") or district.as_of.isoformat())
        values = _common(row)
        status = row.fields.get("status")
        if table == "dibao":
            dibao.setdefault(household.household_no, []).append(row)
            continue
        if table == "tekun":
            care = rng.choices(("全自理", "半护理", "全护理"), (60, 25, 15))[0]
            extra = {"全自理": 0, "半护理": 400, "全护理": 1200}[care]
            values |= {
                "support_mode": "集中供养" if rng.random() < 0.2 else "分散供养",
                "care_level": care,
                "monthly_amount": Decimal(int(_DIBAO_STANDARD * 1.3) + extra).quantize(
                    Decimal("0.01")
                ),
                "approval_date": start,
                "status": status,
            }
        elif table == "elderly_allowance":
            band, amount = _age_band(person, district.as_of)
            values |= {"age_band": band, "monthly_amount": amount, "start_date": start}
            values["status"] = status
        elif table == "disability":
            category, code, _ = rng.choices(_DISABILITY, [w for *_, w in _DISABILITY])[0]
            grade = rng.choices((1, 2, 3, 4), (15, 25, 30, 30))[0]
            subsidy = ["生活补贴"] if "dibao" in person.tags else []
            subsidy += ["护理补贴"] if grade <= 2 else []
            values |= {
                "certificate_no": f"{person.id_number}{code}{grade}",
                "disability_category": category,
                "disability_grade": grade,
                "subsidy": "、".join(subsidy) or "无",
                "issue_date": start,
                "status": status,
            }
        else:  # deaths
            values |= {
                "death_date": person.death_date,
                "death_place": rng.choices(("医院", "家中", "其他"), (60, 35, 5))[0],
                "registered_on": start,
                "status": status,
            }
        values["updated_at"] = _stamp(start, rng)
        yield SimRow(table, row.person_key, values)
    for household_no, members in dibao.items():
        first = members[0]
        approved = date.fromisoformat(first.fields.get("start_date") or district.as_of.isoformat())
        per_head = rng.randrange(300, _DIBAO_STANDARD + 1, 10)
        stamp = _stamp(approved, rng)
        for row in members:
            person, _ = people[row.person_key]
            values = _common(row) | {
                "household_no": f"DB{household_no[6:]}",
                "relation": person.relation,
                "member_count": len(members),
                "monthly_amount": Decimal(per_head * len(members)).quantize(Decimal("0.01")),
                "approval_date": approved,
                "status": row.fields.get("status"),
                "updated_at": stamp,
            }
            yield SimRow("dibao", row.person_key, values)


def district_rows(district: District) -> Iterator[SimRow]:
    """Every row of every table, grid by grid (flat memory at any district size)."""
    from simulators.district import PROFILES

    profile = PROFILES["civil_affairs"]
    for grid, households in district.by_grid():
        view = list(district.grid_view(profile, grid, households))
        yield from _grid_rows(district, grid.code, households, view)
