"""The synthetic district's source views as canonical source records, straight into a store.

The real path is simulator → protocol → adapter → store; for resolution tests and the
store benchmark only the store's content matters, so each view row is mapped with the
adapters' shared ``person_fields`` (the same normal form every adapter produces) and
bulk-inserted.  The truth (``person_key``) goes to a side list, never into the store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from adapters.canonical import person_fields
from canonical_model import SourceRecord
from resolution.bulk import insert_rows
from simulators.district import SOURCES, District, SourceRow

__all__ = ["HUKOU_STATUS", "canonical_of", "district_rows", "insert_rows_of", "to_record"]

HUKOU_STATUS = {"正常": "active", "迁出": "moved_out", "死亡": "deceased", "死亡注销": "deceased"}
_CATEGORY_TAG = {
    "最低生活保障": "dibao",
    "特困人员供养": "tekun",
    "残疾人两项补贴": "disabled",
    "高龄津贴": "aged_80_plus",
}
_STREAM = {
    "hukou": "persons",
    "civil_affairs": "recipients",
    "hotline": "work_orders",
    "health": "patients",
    "utility": "accounts",
}
BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)


def canonical_of(row: SourceRow) -> dict[str, Any]:
    """What the source's adapter would store as ``canonical`` for this row."""
    f = row.fields
    if row.source == "hukou":
        status = HUKOU_STATUS.get(f.get("status") or "", "active")
        return person_fields(
            name=f.get("name"),
            id_number=f.get("id_number"),
            birth_date=f.get("birth_date"),
            gender=f.get("gender"),
            registered_address=f.get("address"),
            household_no=f.get("household_no"),
            relation=f.get("relation"),
            tags=() if status == "active" else (status,),
            status=status,
        )
    if row.source == "civil_affairs":
        category = f.get("category") or ""
        current = f.get("status") == "在册"
        tag = _CATEGORY_TAG.get(category)
        deceased = category == "殡葬服务登记"
        tags = (
            ("deceased",)
            if deceased
            else ((tag,) if tag and (current or tag in ("disabled", "aged_80_plus")) else ())
        )
        return person_fields(
            name=f.get("name"),
            id_number=f.get("id_number"),
            birth_date=f.get("birth_date"),
            gender=f.get("gender"),
            phone=f.get("phone"),
            address=f.get("address"),
            tags=tags,
            status="deceased" if deceased else None,
            facts={"program": category},
        )
    if row.source == "health":
        dead = bool(f.get("deceased_date"))
        return person_fields(
            name=f.get("name"),
            id_number=f.get("id_number"),
            birth_date=f.get("birth_date"),
            gender=f.get("gender"),
            phone=f.get("phone"),
            address=f.get("address"),
            tags=("deceased",) if dead else (),
            status="deceased" if dead else None,
        )
    return person_fields(
        name=f.get("name"),
        phone=f.get("phone"),
        address=f.get("address"),
        facts={"kind": row.source},
    )


def to_record(row: SourceRow, serial: int, batch: str = "bench") -> dict[str, Any]:
    """A ``source_record`` row (as a dict for bulk insert); times step by a second."""
    payload = {k: v for k, v in row.fields.items() if v is not None}
    canonical = canonical_of(row)
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode())
    at = BASE_TIME + timedelta(seconds=serial)
    return {
        "source": row.source,
        "stream": _STREAM.get(row.source, row.stream),
        "source_key": row.source_key,
        "content_hash": digest.hexdigest(),
        "payload": payload,
        "canonical": canonical,
        "version": 1,
        "batch_id": batch,
        "received_at": at,
        "updated_at": at,
        "person_id": None,
    }


@dataclass
class Truth:
    keys: list[tuple[str, str]]  # (source, source_key) in insertion order
    person: list[str]  # the true person of each


def district_rows(district: District, sources: Iterable[str] = SOURCES) -> Iterator[SourceRow]:
    """Every source's view, grid by grid (one generation pass for all sources)."""
    from simulators.district import PROFILES

    profiles = [PROFILES[s] for s in sources]
    for grid, households in district.by_grid():
        for profile in profiles:
            yield from district.grid_view(profile, grid, households)


def insert_rows_of(
    session: Session, rows: Iterable[SourceRow], truth: Truth | None = None, start: int = 0
) -> int:
    """Store ``rows`` as source records; returns how many.  ``truth`` collects person keys."""

    def records() -> Iterator[dict[str, Any]]:
        for serial, row in enumerate(rows, start):
            if truth is not None:
                truth.keys.append((row.source, row.source_key))
                truth.person.append(row.person_key)
            yield to_record(row, serial)

    return insert_rows(session, SourceRecord.__table__, records())  # type: ignore[arg-type]
