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
from contextlib import contextmanager
from datetime import date
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.orm import Session

from canonical_model import (
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
from resolution.bulk import (
    fetch_rows,
    indexes_deferred,
    insert_rows,
    insert_tuples,
    update_rows,
    update_tuples,
)
from resolution.golden import Golden, GoldenInput, age_tags, golden_person
from resolution.store_address import AddressBook, Geography
from resolution.store_read import is_dependent

__all__ = ["GOLDEN_COLUMNS", "OWN_FLAGS", "AddressBook", "Geography", "refresh_persons"]

#: Flags resolution sets and clears; any other flag on a person belongs to someone else.
OWN_FLAGS = frozenset({"insufficient_identifiers"})
_PERSONS_PER_CHUNK = 5_000
_IN = 500
_INPUT_TYPES = (
    None,
    None,
    None,
    SourceRecord.__table__.c.updated_at.type,
    SourceRecord.__table__.c.canonical.type,
    ResolutionEntry.__table__.c.sufficient.type,
)
_FLAGS = Person.__table__.c.flags.type
#: The person columns a golden refresh decides (a merge's snapshot keeps the same ones).
GOLDEN_COLUMNS = (
    "name",
    "name_pinyin",
    "resident_id",
    "gender",
    "birth_date",
    "phone",
    "residential_address_id",
    "registered_address_id",
    "grid_code",
    "tags",
    "flags",
    "conflicts",
    "status",
)
#: The columns ``_write`` sets, the key last (rows are tuples in this order: a dict per
#: person, then read back key by key, cost more than the UPDATE's bind processing).
_PERSON_COLUMNS = (*GOLDEN_COLUMNS, "updated_at", "id")
_LINEAGE_COLUMNS = ("person_id", "field", "source_record_id", "rule", "chosen_at")
_IDENTIFIER_COLUMNS = ("person_id", "kind", "value", "source_record_id")


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _inputs(session: Session, persons: Sequence[int]) -> Iterator[tuple[int, list[GoldenInput]]]:
    """Each person's person-bearing records, person by person (straight at the driver,
    typed as the ORM would read them: a placement refreshes one person)."""
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(persons), _IN * 10):
        chunk = list(persons[start : start + _IN * 10])
        rows += fetch_rows(
            session,
            "SELECT s.person_id, s.id, s.source, s.updated_at, s.canonical, e.sufficient "
            "FROM source_record s "
            "LEFT OUTER JOIN resolution_entry e ON e.source_record_id = s.id "
            f"WHERE s.person_id IN ({_marks(len(chunk))}) ORDER BY s.person_id, s.id",
            chunk,
            _INPUT_TYPES,
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
    geography: Geography | None = None,
) -> dict[str, int]:
    """Recompute and write the golden record of ``persons`` (all linked persons if None);
    ``living_alone=False`` leaves that tag to a later call (it scans the person table).
    ``geography`` is a worker's building codes, kept across its transactions."""
    on = on or utcnow().date()
    book = AddressBook(session, geography)
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
    with _deferred(session, full=everyone):
        for chunk in _chunks(ids, _PERSONS_PER_CHUNK):
            if not everyone:
                for name in ("person_field_lineage", "person_identifier", "household_member"):
                    sql = f"DELETE FROM {name} WHERE person_id IN ({_marks(len(chunk))})"
                    fetch_rows(session, sql, chunk)
            goldens = {pid: golden_person(records, on) for pid, records in _inputs(session, chunk)}
            counts["persons"] += len(goldens)
            homes |= _write(session, book, goldens, counts)
    if living_alone:
        counts["living_alone"] = refresh_living_alone(session, None if everyone else homes, on)
    return dict(counts)


@contextmanager
def _deferred(session: Session, *, full: bool) -> Iterator[None]:
    """A full run rewrites every linked person's golden columns and every identifier:
    the indexes over them are built once afterwards instead of updated row by row (see
    ``indexes_deferred``); a placement's few persons keep them."""
    if not full:
        yield
        return
    with (
        indexes_deferred(session, "person", columns=_PERSON_COLUMNS[:-1]),
        indexes_deferred(session, "person_identifier", columns=_IDENTIFIER_COLUMNS),
    ):
        yield


def _write(
    session: Session, book: AddressBook, goldens: dict[int, Golden], counts: Counter[str]
) -> set[int]:
    now = utcnow()
    flags: dict[int, Any] = {}
    ids = list(goldens)
    for start in range(0, len(ids), _IN * 10):
        part = ids[start : start + _IN * 10]
        sql = f"SELECT id, flags FROM person WHERE id IN ({_marks(len(part))})"
        flags.update(fetch_rows(session, sql, part, (None, _FLAGS)))
    updates: list[tuple[Any, ...]] = []
    lineage: list[tuple[Any, ...]] = []
    identifiers: list[tuple[Any, ...]] = []
    members: list[tuple[int, tuple[str, str | None, int], Any]] = []
    homes: set[int] = set()
    wanted: dict[str, dict[str, Any] | None] = {}
    for g in goldens.values():
        if g.registered_address:
            wanted.setdefault(g.registered_address[:300], None)
        if g.residential_address:
            wanted[g.residential_address[:300]] = g.residential_parts
    book.resolve(wanted)
    book.load_grids(home[1] for g in goldens.values() if (home := book.get(g.residential_address)))
    for pid, g in goldens.items():
        home = book.get(g.residential_address)
        registered = book.get(g.registered_address)
        if home is not None:
            homes.add(home[0])
        kept = [f for f in (flags.get(pid) or []) if f not in OWN_FLAGS]
        updates.append(
            (
                g.name,
                g.name_pinyin,
                g.resident_id,
                g.gender,
                g.birth_date,
                g.phone,
                home[0] if home else None,
                registered[0] if registered else None,
                book.grid(home[1]) if home else None,
                g.tags,
                sorted({*kept, *g.flags}),
                g.conflicts,
                g.status,
                now,
                pid,
            )
        )
        lineage.extend((pid, fld, rid, rule, now) for fld, (rid, rule) in g.lineage.items())
        seen: set[tuple[str, str]] = set()
        for kind, value, rid in g.identifiers:
            if (kind, value[:100]) not in seen:
                seen.add((kind, value[:100]))
                identifiers.append((pid, kind, value[:100], rid))
        if g.household is not None:
            members.append((pid, g.household, registered))
        counts["conflicts"] += bool(g.conflicts)
    update_tuples(session, _table(Person), _PERSON_COLUMNS, updates)
    insert_tuples(session, _table(PersonFieldLineage), _LINEAGE_COLUMNS, lineage)
    insert_tuples(session, _table(PersonIdentifier), _IDENTIFIER_COLUMNS, identifiers)
    _households(session, members)
    counts["lineage"] += len(lineage)
    counts["identifiers"] += len(identifiers)
    return homes


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _households(
    session: Session, members: list[tuple[int, tuple[str, str | None, int], Any]]
) -> None:
    numbers = sorted({h[0] for _, h, _ in members})
    found = _household_ids(session, numbers)
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
        found.update(_household_ids(session, list(new)))
    rows = [
        {"household_id": found[number], "person_id": pid, "relation": relation}
        for pid, (number, relation, _), _ in members
    ]
    insert_rows(session, HouseholdMember.__table__, rows)  # type: ignore[arg-type]


def _household_ids(session: Session, numbers: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(numbers), _IN):
        part = numbers[start : start + _IN]
        sql = f"SELECT household_no, id FROM household WHERE household_no IN ({_marks(len(part))})"
        known = fetch_rows(session, sql, part)
        found.update({str(number): int(hid) for number, hid in known if number is not None})
    return found


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
