"""The producers' read side: the next page of changed source records, and their addresses.

A producer walks ``source_record`` in (updated_at, id) order from its watermark. Read as
one ``source IN (…) AND (updated_at > t OR (updated_at = t AND id > n))`` query, every page
sorted the whole remainder of the table (no index serves that shape), and every row was
hydrated whole, raw payload included, though the producers only read ``canonical``. Here
each source is read on its own through the ``(source, updated_at, id)`` index with a
row-value seek, only the columns the producers use, and the per-source pages are merged:
the first ``limit`` of the merge are exactly the first ``limit`` of the single query.
Addresses are looked up once per page (one ``IN`` query) instead of once per record.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from canonical_model import Address, SourceRecord

__all__ = ["AddressBook", "RecordView", "address_book", "next_page"]

#: normalized address text → (address id, building code); the lowest id wins a tie.
AddressBook = Mapping[str, tuple[int, str | None]]
_IN_CHUNK = 500  # bound parameters per IN list: far below every backend's limit


class RecordView(Protocol):
    """What a producer reads of a source record (a row of :func:`next_page`, or an entity)."""

    @property
    def id(self) -> int: ...
    @property
    def source(self) -> str: ...
    @property
    def stream(self) -> str: ...
    @property
    def source_key(self) -> str: ...
    @property
    def canonical(self) -> dict[str, Any]: ...
    @property
    def person_id(self) -> int | None: ...
    @property
    def received_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


class _Record(NamedTuple):
    id: int
    source: str
    stream: str
    source_key: str
    canonical: dict[str, Any]
    person_id: int | None
    received_at: datetime
    updated_at: datetime


_COLUMNS = (
    SourceRecord.id,
    SourceRecord.source,
    SourceRecord.stream,
    SourceRecord.source_key,
    SourceRecord.canonical,
    SourceRecord.person_id,
    SourceRecord.received_at,
    SourceRecord.updated_at,
)


def _order(record: _Record) -> tuple[datetime, int]:
    return record.updated_at, record.id


def next_page(
    session: Session,
    sources: Sequence[str],
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[_Record]:
    """The first ``limit`` records of ``sources`` after ``after`` in (updated_at, id) order."""
    pages: list[list[_Record]] = []
    for source in dict.fromkeys(sources):
        query = select(*_COLUMNS).where(SourceRecord.source == source)
        if after is not None:
            query = query.where(tuple_(SourceRecord.updated_at, SourceRecord.id) > tuple_(*after))
        rows = session.execute(
            query.order_by(SourceRecord.updated_at, SourceRecord.id).limit(limit)
        ).all()
        pages.append([_Record(*row) for row in rows])
    if len(pages) == 1:
        return pages[0]
    merged = heapq.merge(*pages, key=_order)
    return [record for _, record in zip(range(limit), merged, strict=False)]


def _address_text(canonical: Mapping[str, Any] | None) -> str | None:
    text = (canonical or {}).get("address")
    return text if isinstance(text, str) and text else None


def address_book(
    session: Session, records: Iterable[RecordView]
) -> dict[str, tuple[int, str | None]]:
    """The addresses the page's records name, in one query per few hundred texts."""
    texts = sorted({t for r in records if (t := _address_text(r.canonical)) is not None})
    book: dict[str, tuple[int, str | None]] = {}
    for start in range(0, len(texts), _IN_CHUNK):
        chunk = texts[start : start + _IN_CHUNK]
        rows = session.execute(
            select(Address.normalized, Address.id, Address.building_code)
            .where(Address.normalized.in_(chunk))
            .order_by(Address.id)
        ).all()
        for normalized, address_id, building in rows:
            book.setdefault(normalized, (address_id, building))
    return book


def lookup(book: AddressBook, canonical: Mapping[str, Any] | None) -> tuple[int | None, str | None]:
    """The (address id, building code) the record's canonical address names, if known."""
    text = _address_text(canonical)
    found = book.get(text) if text is not None else None
    return found if found is not None else (None, None)
