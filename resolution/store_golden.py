"""Writing golden records into the store: persons, lineage, identifiers, households, grid.

``resolution.golden`` decides the values; this module feeds it each person's records and
writes the outcome for many persons at once.  Addresses become ``Address`` rows (found by
their normalised text, created when new) and a person's grid is the grid of their home's
building where the store knows the building.  ``living_alone`` is decided here because it
needs everyone registered at the same address, not one person's records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from canonical_model import (
    Address,
    GridLevel,
    GridUnit,
    Household,
    HouseholdMember,
    Person,
    PersonFieldLineage,
    PersonIdentifier,
    PersonStatus,
    SourceRecord,
    utcnow,
)
from canonical_model.resolution_state import ResolutionEntry
from resolution.bulk import insert_rows, update_rows
from resolution.cn_normalisers import SIMPLE, WITH_ARG
from resolution.golden import Golden, GoldenInput, age_tags, golden_person
from resolution.store_read import is_dependent

__all__ = ["OWN_FLAGS", "AddressBook", "refresh_persons"]

#: Flags resolution sets and clears; any other flag on a person belongs to someone else.
OWN_FLAGS = frozenset({"insufficient_identifiers"})
_PERSONS_PER_CHUNK = 5_000
_ADDRESS_PARTS = (
    "province",
    "city",
    "district",
    "street",
    "community",
    "road",
    "lane",
    "number",
    "building",
    "unit",
    "room",
)
_building_key = WITH_ARG["parts"]("anchor,lane?,number?,building")


def _key_of(text: str) -> str | None:
    parts = SIMPLE["cn_address"](text)
    key = _building_key(parts)
    return None if key is None else str(key)


class AddressBook:
    """Address rows by normalised text, and the grid of a building, cached for one run."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._ids: dict[str, tuple[int, str | None]] = {}
        self._buildings: dict[str, str] | None = None
        self._grid_of: dict[str, str] | None = None

    def _load_geography(self) -> None:
        self._buildings = {}
        # ``> ''``, not ``IS NOT NULL``: the same rows (a code is a grid unit's, never
        # empty), but SQLite seeks ``ix_address_building_code`` for a range where it scans
        # the whole address table for IS NOT NULL — per placement, at a million persons
        rows = self.session.execute(
            select(Address.normalized, Address.building_code).where(Address.building_code > "")
        )
        for text, code in rows:
            key = _key_of(text)
            if key is not None and code is not None:
                self._buildings.setdefault(key, code)
        units = self.session.execute(select(GridUnit.code, GridUnit.level, GridUnit.parent_code))
        grids = {}
        parents = {}
        for code, level, parent in units:
            if level == GridLevel.GRID:
                grids[code] = code
            elif level == GridLevel.BUILDING and parent:
                parents[code] = parent
        self._grid_of = {**grids, **parents}

    def preload(self) -> None:
        for aid, text, code in self.session.execute(
            select(Address.id, Address.normalized, Address.building_code)
        ):
            self._ids.setdefault(text, (aid, code))

    def grid(self, building_code: str | None) -> str | None:
        if building_code is None:
            return None
        if self._grid_of is None:
            self._load_geography()
        assert self._grid_of is not None
        return self._grid_of.get(building_code) or self._grid_of.get(building_code[:15])

    def resolve(self, wanted: dict[str, dict[str, Any] | None]) -> None:
        """Make sure every text in ``wanted`` (text → parts) has a row, in a few queries."""
        texts = sorted(t for t in wanted if t not in self._ids)
        self._lookup(texts)
        missing = [t for t in texts if t not in self._ids]
        if not missing:
            return
        if self._buildings is None:
            self._load_geography()
        assert self._buildings is not None
        rows = []
        for text in missing:
            key = _key_of(text) if self._buildings else None
            parts = wanted[text] or {}
            rows.append(
                {
                    "normalized": text,
                    "building_code": None if key is None else self._buildings.get(key),
                    **{k: str(parts[k])[:60] if parts.get(k) else None for k in _ADDRESS_PARTS},
                }
            )
        # a plain bulk insert, then the new ids by text: an ORM insert with RETURNING
        # costs ten times as much per row, and a full run creates an address per home
        insert_rows(self.session, Address.__table__, rows)  # type: ignore[arg-type]
        self._lookup(missing)

    def _lookup(self, texts: list[str]) -> None:
        for start in range(0, len(texts), 500):
            known = self.session.execute(
                select(Address.normalized, Address.id, Address.building_code)
                .where(Address.normalized.in_(texts[start : start + 500]))
                .order_by(Address.id.desc())
            )
            self._ids.update({text: (aid, code) for text, aid, code in known})

    def get(self, text: str | None) -> tuple[int, str | None] | None:
        """(address id, building code) of an address ``resolve`` has seen."""
        return self._ids.get(text[:300]) if text else None


def _inputs(session: Session, persons: Sequence[int]) -> Iterator[tuple[int, list[GoldenInput]]]:
    """Each person's person-bearing records, person by person."""
    rows = session.execute(
        select(
            SourceRecord.person_id,
            SourceRecord.id,
            SourceRecord.source,
            SourceRecord.updated_at,
            SourceRecord.canonical,
            ResolutionEntry.sufficient,
        )
        .outerjoin(ResolutionEntry, ResolutionEntry.source_record_id == SourceRecord.id)
        .where(SourceRecord.person_id.in_(persons))
        .order_by(SourceRecord.person_id, SourceRecord.id)
    )
    current: int | None = None
    group: list[GoldenInput] = []
    for person, rid, source, updated, canonical, sufficient in rows:
        if is_dependent(canonical):
            continue
        if person != current and group:
            assert current is not None
            yield current, group
            group = []
        current = person
        group.append(GoldenInput(rid, source, updated, canonical, sufficient is not False))
    if group and current is not None:
        yield current, group


def _chunks(ids: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def refresh_persons(
    session: Session,
    persons: Iterable[int] | None = None,
    *,
    on: date | None = None,
    living_alone: bool = True,
) -> dict[str, int]:
    """Recompute and write the golden record of ``persons`` (all linked persons if None);
    ``living_alone=False`` leaves that tag to a later call (it scans the person table)."""
    on = on or utcnow().date()
    book = AddressBook(session)
    everyone = persons is None
    if everyone:
        book.preload()
        linked = (
            select(SourceRecord.person_id).distinct().where(SourceRecord.person_id.is_not(None))
        )
        ids = sorted(int(p) for p in session.scalars(linked) if p is not None)
        for table in (PersonFieldLineage, PersonIdentifier, HouseholdMember):
            session.execute(delete(table))
    else:
        ids = sorted(set(persons or ()))
    counts: Counter[str] = Counter()
    homes: set[int] = set()
    for chunk in _chunks(ids, _PERSONS_PER_CHUNK):
        if not everyone:
            for table in (PersonFieldLineage, PersonIdentifier, HouseholdMember):
                session.execute(delete(table).where(table.person_id.in_(chunk)))
        goldens = {pid: golden_person(records, on) for pid, records in _inputs(session, chunk)}
        counts["persons"] += len(goldens)
        homes |= _write(session, book, goldens, counts)
    if living_alone:
        counts["living_alone"] = refresh_living_alone(session, None if everyone else homes, on)
    return dict(counts)


def _write(
    session: Session, book: AddressBook, goldens: dict[int, Golden], counts: Counter[str]
) -> set[int]:
    now = utcnow()
    flags = dict(
        session.execute(select(Person.id, Person.flags).where(Person.id.in_(list(goldens)))).all()
    )
    updates, lineage, identifiers, members = [], [], [], []
    homes: set[int] = set()
    wanted: dict[str, dict[str, Any] | None] = {}
    for g in goldens.values():
        if g.registered_address:
            wanted.setdefault(g.registered_address[:300], None)
        if g.residential_address:
            wanted[g.residential_address[:300]] = g.residential_parts
    book.resolve(wanted)
    for pid, g in goldens.items():
        home = book.get(g.residential_address)
        registered = book.get(g.registered_address)
        if home is not None:
            homes.add(home[0])
        kept = [f for f in (flags.get(pid) or []) if f not in OWN_FLAGS]
        updates.append(
            {
                "id": pid,
                "name": g.name,
                "name_pinyin": g.name_pinyin,
                "resident_id": g.resident_id,
                "gender": g.gender,
                "birth_date": g.birth_date,
                "phone": g.phone,
                "residential_address_id": home[0] if home else None,
                "registered_address_id": registered[0] if registered else None,
                "grid_code": book.grid(home[1]) if home else None,
                "tags": g.tags,
                "flags": sorted({*kept, *g.flags}),
                "conflicts": g.conflicts,
                "status": g.status,
                "updated_at": now,
            }
        )
        for fld, (rid, rule) in g.lineage.items():
            lineage.append(
                {
                    "person_id": pid,
                    "field": fld,
                    "source_record_id": rid,
                    "rule": rule,
                    "chosen_at": now,
                }
            )
        seen: set[tuple[str, str]] = set()
        for kind, value, rid in g.identifiers:
            if (kind, value[:100]) not in seen:
                seen.add((kind, value[:100]))
                identifiers.append(
                    {"person_id": pid, "kind": kind, "value": value[:100], "source_record_id": rid}
                )
        if g.household is not None:
            members.append((pid, g.household, registered))
        counts["conflicts"] += bool(g.conflicts)
    update_rows(session, Person.__table__, "id", updates)  # type: ignore[arg-type]
    insert_rows(session, PersonFieldLineage.__table__, lineage)  # type: ignore[arg-type]
    insert_rows(session, PersonIdentifier.__table__, identifiers)  # type: ignore[arg-type]
    _households(session, members)
    counts["lineage"] += len(lineage)
    counts["identifiers"] += len(identifiers)
    return homes


def _households(
    session: Session, members: list[tuple[int, tuple[str, str | None, int], Any]]
) -> None:
    numbers = sorted({h[0] for _, h, _ in members})
    found: dict[str, int] = {}
    for start in range(0, len(numbers), 500):
        known = session.execute(
            select(Household.household_no, Household.id).where(
                Household.household_no.in_(numbers[start : start + 500])
            )
        )
        found.update({str(number): int(hid) for number, hid in known if number is not None})
    new: dict[str, int | None] = {}
    for _, (number, _, _), registered in members:
        if number not in found:
            new.setdefault(number, registered[0] if registered else None)
    if new:
        now = utcnow()
        insert_rows(
            session,
            Household.__table__,  # type: ignore[arg-type]
            ({"household_no": n, "address_id": a, "created_at": now} for n, a in new.items()),
        )
        created = list(new)
        for start in range(0, len(created), 500):
            known = session.execute(
                select(Household.household_no, Household.id).where(
                    Household.household_no.in_(created[start : start + 500])
                )
            )
            found.update({str(number): int(hid) for number, hid in known})
    rows = [
        {"household_id": found[number], "person_id": pid, "relation": relation}
        for pid, (number, relation, _), _ in members
    ]
    insert_rows(session, HouseholdMember.__table__, rows)  # type: ignore[arg-type]


def refresh_living_alone(session: Session, addresses: Iterable[int] | None, on: date) -> int:
    """Tag elderly people who are the only active person at their home address.

    ``person.residential_address_id`` has no index, so every query here is a scan of
    the person table: one scan for a full run (``addresses`` None), one per 20,000
    addresses otherwise — never one per address.
    """
    base = select(Person.id, Person.residential_address_id, Person.birth_date, Person.tags).where(
        Person.status == PersonStatus.ACTIVE,
        Person.merged_into_id.is_(None),
        Person.residential_address_id.is_not(None),
    )
    if addresses is None:
        queries = [base]
    else:
        ids = sorted(set(addresses))
        queries = [
            base.where(Person.residential_address_id.in_(ids[i : i + 20_000]))
            for i in range(0, len(ids), 20_000)
        ]
    changed = 0
    for query in queries:
        rows = session.execute(query).all()
        at: Counter[int | None] = Counter(home for _, home, _, _ in rows)
        updates = []
        for pid, home, birth, tags in rows:
            alone = at[home] == 1 and "elderly" in age_tags(birth, on)
            if alone != ("living_alone" in (tags or [])):
                kept = {*(tags or [])} - {"living_alone"}
                updates.append(
                    {"id": pid, "tags": sorted(kept | ({"living_alone"} if alone else set()))}
                )
        changed += update_rows(session, Person.__table__, "id", updates)  # type: ignore[arg-type]
    return changed


def count_persons(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Person)) or 0)
