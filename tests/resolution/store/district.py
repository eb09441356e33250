"""A small synthetic district in a store, plus hand-made records whose outcome is known.

The district (``simulators.district``) gives the engine a realistic background to fit its
model on; the crafted records are the cases the tests assert on: one elderly resident seen
by four sources (golden fields, lineage, tags, grid), a mistyped ID that disagrees on the
birth date (a visible conflict), a caller with nothing to match on, and a stranger who
gives a registered resident's ID (a review, never a merge).
"""

from __future__ import annotations

import collections
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from adapters.canonical import person_fields
from bench.resolution.district_records import Truth, district_rows, insert_rows_of
from canonical_model import Address, GridLevel, GridUnit, SourceRecord
from canonical_model.values import check_digit, parse_address
from simulators.district import District

__all__ = [
    "CASE",
    "DISTRICT_PERSONS",
    "Case",
    "add_crafted",
    "crafted",
    "load_district",
    "partition",
    "person_of",
]

DISTRICT_PERSONS = 300
SEED = 11
T0 = datetime(2025, 6, 1, tzinfo=UTC)


def _id(region: str, birth: str, seq: int) -> str:
    first17 = f"{region}{birth}{seq:03d}"
    return first17 + check_digit(first17)


@dataclass(frozen=True)
class Case:
    """Values of the crafted records (synthetic; no real person)."""

    id_g: str = _id("330106", "19400312", 171)
    home: str = "浙江省杭州市西湖区文三路478号2幢1单元301室"
    registered: str = "浙江省杭州市西湖区北山街道宝石社区保俶路12号3幢2单元101室"
    building: str = "330106001001001001"  # 18 digits: grid 330106001001001 + building 001
    id_c: str = _id("330106", "19610704", 231)
    id_k: str = _id("330106", "19880101", 413)


CASE = Case()


def crafted(source: str, key: str, minutes: int, **fields: Any) -> dict[str, Any]:
    """A source_record row for a hand-made record, ``minutes`` after T0."""
    stream = {
        "hukou": "persons",
        "civil_affairs": "dibao",
        "health": "patients",
        "utility": "accounts",
        "hotline": "work_orders",
    }[source]
    canonical = person_fields(**fields)
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode())
    at = T0 + timedelta(minutes=minutes)
    return {
        "source": source,
        "stream": stream,
        "source_key": key,
        "content_hash": digest.hexdigest(),
        "payload": {k: str(v) for k, v in fields.items() if v},
        "canonical": canonical,
        "version": 1,
        "batch_id": "crafted",
        "received_at": at,
        "updated_at": at,
    }


def _crafted_rows() -> list[dict[str, Any]]:
    c = CASE
    id_c_typo = c.id_c[:-1] + ("0" if c.id_c[-1] != "0" else "1")  # fails the check digit
    return [
        # G: the register, civil affairs (低保), a clinic and the water company
        crafted(
            "hukou",
            "G-HK",
            0,
            name="欧阳建国",
            id_number=c.id_g,
            gender="男",
            registered_address=c.registered,
            household_no="HH-G-0001",
            relation="户主",
            status="active",
        ),
        crafted(
            "civil_affairs",
            "G-MZ",
            10,
            name="歐陽建國",
            id_number=c.id_g,
            phone="13900000001",
            address=c.registered,
            tags=("dibao",),
        ),
        crafted(
            "health",
            "G-PT",
            20,
            name="欧阳建国",
            id_number=c.id_g,
            gender="male",
            phone="13900000002",
            address=c.home,
        ),
        crafted("utility", "G-SD", 30, name="欧阳建国", phone="13900000002", address=c.home),
        # C: the register, and civil affairs with a mistyped ID and another birth date
        crafted(
            "hukou",
            "C-HK",
            0,
            name="司马秀兰",
            id_number=c.id_c,
            gender="女",
            registered_address="浙江省杭州市西湖区文一路88号5幢2单元602室",
            status="active",
        ),
        crafted(
            "civil_affairs",
            "C-MZ",
            10,
            name="司马秀兰",
            id_number=id_c_typo,
            birth_date="1961-07-14",
            phone="13900000003",
            address="浙江省杭州市西湖区文一路88号5幢2单元602室",
            tags=("disabled",),
        ),
        # Z: a caller who gave only a surname
        crafted("hotline", "Z-GD", 5, name="赵先生"),
        # K: the register, and a stranger at a clinic typing K's ID
        crafted(
            "hukou",
            "K-HK",
            0,
            name="诸葛明远",
            id_number=c.id_k,
            gender="男",
            registered_address="浙江省杭州市西湖区学院路28号1幢1单元201室",
            status="active",
        ),
        crafted(
            "health",
            "K-PT",
            15,
            name="林晓燕",
            id_number=c.id_k,
            birth_date="1975-03-09",
            gender="female",
            address="浙江省杭州市西湖区古墩路9号3幢1单元502室",
        ),
    ]


def add_crafted(session: Session) -> None:
    """The crafted records, and the building and grid of G's home (so a grid is known)."""
    c = CASE
    units = [
        ("330106", GridLevel.DISTRICT, None),
        ("330106001", GridLevel.SUBDISTRICT, "330106"),
        ("330106001001", GridLevel.COMMUNITY, "330106001"),
        ("330106001001001", GridLevel.GRID, "330106001001"),
        (c.building, GridLevel.BUILDING, "330106001001001"),
    ]
    known = set(session.scalars(select(GridUnit.code)))
    for code, level, parent in units:
        if code not in known:
            session.add(GridUnit(code=code, name=f"unit {code}", level=level, parent_code=parent))
            session.flush()
    building = parse_address("浙江省杭州市西湖区文三路478号2幢").normalized
    session.add(
        Address(
            normalized=building, road="文三路", number="478", building="2", building_code=c.building
        )
    )
    session.execute(insert(SourceRecord), _crafted_rows())


def load_district(
    session: Session, persons: int = DISTRICT_PERSONS, *, share: float = 1.0, part: int = 0
) -> Truth:
    """Store the district's records (``share`` of them: part 0 the first, 1 the rest)."""
    rows = list(district_rows(District(persons, SEED)))
    cut = int(len(rows) * share)
    chosen = rows[:cut] if part == 0 else rows[cut:]
    truth = Truth([], [])
    insert_rows_of(session, chosen, truth, start=0 if part == 0 else cut)
    return truth


def person_of(session: Session, source: str, key: str) -> int:
    pid = session.scalar(
        select(SourceRecord.person_id).where(
            SourceRecord.source == source, SourceRecord.source_key == key
        )
    )
    assert pid is not None
    return int(pid)


def partition(session: Session) -> dict[int, frozenset[int]]:
    """Person id → its record ids."""
    groups: dict[int, set[int]] = collections.defaultdict(set)
    for rid, pid in session.execute(select(SourceRecord.id, SourceRecord.person_id)):
        assert pid is not None, "every record links to a person"
        groups[pid].add(rid)
    return {pid: frozenset(g) for pid, g in groups.items()}
