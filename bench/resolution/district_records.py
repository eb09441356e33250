"""The synthetic district's source views as canonical source records, straight into a store.

The real path is simulator → protocol → adapter → store; for resolution tests and the
store benchmark only the store's content matters, so each view row is mapped with the
adapters' shared ``person_fields`` (the same normal form every adapter produces) and
bulk-inserted.  The truth (``person_key``) goes to a side list, never into the store.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import random
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from sqlalchemy.orm import Session

from adapters.canonical import person_fields
from canonical_model import SourceRecord
from resolution.bulk import insert_rows
from simulators.district import SOURCES, District, SourceRow

__all__ = [
    "HUKOU_STATUS",
    "CompactTruth",
    "HoldOut",
    "canonical_of",
    "chunked",
    "district_rows",
    "insert_rows_of",
    "to_record",
]

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


def chunked(rows: Iterable[SourceRow], size: int) -> Iterator[list[SourceRow]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


class HoldOut:
    """Streams rows in locally shuffled chunks and keeps back ``count`` of them, chosen
    uniformly over the whole district in one pass (flat memory at a million persons).

    The held rows are the ``count`` with the lowest seeded hash (a bottom-k sample): a max
    heap keeps the lowest seen so far, and a row pushed out of it can never be held, so it
    is passed on then.  Shuffling within chunks mixes the sources' rows as they would
    arrive at a hub, without holding the district in memory for a global shuffle.
    """

    def __init__(self, count: int, seed: int, chunk: int = 20_000) -> None:
        self.count = count
        self.seed = seed
        self.chunk = chunk
        self._heap: list[tuple[int, int, SourceRow]] = []  # (-hash, serial, row)

    def _hash(self, row: SourceRow) -> int:
        text = f"{self.seed}:{row.source}:{row.source_key}".encode()
        return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")

    def kept(self, rows: Iterable[SourceRow]) -> Iterator[SourceRow]:
        """Every row not held out; ``held`` is complete once this is exhausted."""
        rng = random.Random(self.seed)
        heap = self._heap
        serial = 0
        for batch in chunked(rows, self.chunk):
            rng.shuffle(batch)
            for row in batch:
                serial += 1
                if not self.count:
                    yield row
                    continue
                entry = (-self._hash(row), serial, row)
                if len(heap) < self.count:
                    heapq.heappush(heap, entry)
                elif entry > heap[0]:  # a lower hash than the highest held one
                    yield heapq.heapreplace(heap, entry)[2]
                else:
                    yield row

    @property
    def held(self) -> list[SourceRow]:
        """The held-out rows, lowest hash first (a fixed order for a fixed seed)."""
        return [row for _, _, row in sorted(self._heap, reverse=True)]


@dataclass
class CompactTruth:
    """Each stored record's true person as an int, in insertion order: residents
    (``P00000042``) by their serial, outside callers (``X…``, few) by a negative label."""

    labels: array[int] = field(default_factory=lambda: array("q"))
    _outsiders: dict[str, int] = field(default_factory=dict)

    def add(self, person_key: str) -> None:
        if person_key.startswith("P"):
            self.labels.append(int(person_key[1:]))
        else:
            self.labels.append(-self._outsiders.setdefault(person_key, len(self._outsiders) + 1))
