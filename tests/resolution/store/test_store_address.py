"""Addresses and grids for golden records: a worker's building codes read incrementally
agree with a full read, a grid looked up per building agrees with the whole tree, and the
driver-level reads and small updates give what the ORM gives."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import Address, GridLevel, GridUnit, Person, SourceRecord
from canonical_model.resolution_state import ResolutionEntry
from canonical_model.store import transaction
from canonical_model.values import parse_address
from resolution.bulk import SMALL_UPDATE, fetch_rows, update_rows
from resolution.store_address import AddressBook, Geography, _key_of
from resolution.store_golden import refresh_persons

SAME_BUILDING = "浙江省杭州市西湖区文三路478号2幢1单元301室"


def _coded(s: Session) -> list[tuple[str, str]]:
    return [
        (text, code)
        for text, code in s.execute(
            select(Address.normalized, Address.building_code).where(
                Address.building_code.is_not(None)
            )
        )
        if code
    ]


def test_a_workers_geography_reads_only_what_was_added_and_agrees_with_a_full_read(
    resolved: sessionmaker[Session],
) -> None:
    with transaction(resolved) as s:
        coded = _coded(s)
        assert coded, "the district has a coded building"
        worker = Geography()
        worker.refresh(s)
        before = dict(worker.buildings)
        assert before
        assert worker.mark > 0
        text, code = coded[0]
        key = _key_of(text)
        assert key is not None
        assert before[key] == code
        # the same building under another code, sorting before and after the known one
        lower, higher = "0" * len(code), "z" * len(code)
        for other in (higher, lower):
            s.add(GridUnit(code=other, name="x", level=GridLevel.BUILDING, parent_code=None))
            s.flush()
            s.add(Address(normalized=text, building_code=other))
        s.flush()
        mark = worker.mark
        assert worker.refresh(s)[key] == lower
        assert worker.mark > mark
        fresh = Geography().refresh(s)
        assert fresh == worker.buildings
        assert {k: v for k, v in fresh.items() if k != key} == {
            k: v for k, v in before.items() if k != key
        }
        s.rollback()


def test_a_grid_per_building_is_the_grid_of_the_whole_tree(
    resolved: sessionmaker[Session],
) -> None:
    with resolved() as s:
        codes = [str(c) for c in s.scalars(select(GridUnit.code))]
        codes += [c + "9999" for c in codes] + ["nowhere", ""]
        whole = AddressBook(s)
        whole.preload()
        for code in [*codes, None]:
            assert AddressBook(s).grid(code) == whole.grid(code), code
        building = next(
            str(c)
            for c in s.scalars(select(GridUnit.code).where(GridUnit.level == GridLevel.BUILDING))
        )
        assert whole.grid(building) is not None


def test_a_new_address_inherits_its_buildings_code(resolved: sessionmaker[Session]) -> None:
    normalized = parse_address(SAME_BUILDING).normalized
    with transaction(resolved) as s:
        (text, code) = _coded(s)[0]
        assert _key_of(normalized) == _key_of(text)
        book = AddressBook(s, Geography())
        book.resolve({normalized: None})
        found = book.get(normalized)
        assert found is not None
        assert found[1] == code
        assert book.grid(found[1]) == "330106001001001"
        s.rollback()


def test_driver_reads_are_typed_as_the_orm_reads_them(resolved: sessionmaker[Session]) -> None:
    with resolved() as s:
        ids = list(s.scalars(select(SourceRecord.id).order_by(SourceRecord.id).limit(50)))
        marks = ", ".join("?" * len(ids))
        raw = fetch_rows(
            s,
            "SELECT s.id, s.updated_at, s.canonical, e.sufficient FROM source_record s "
            "LEFT OUTER JOIN resolution_entry e ON e.source_record_id = s.id "
            f"WHERE s.id IN ({marks}) ORDER BY s.id",
            ids,
            (
                None,
                SourceRecord.__table__.c.updated_at.type,
                SourceRecord.__table__.c.canonical.type,
                ResolutionEntry.__table__.c.sufficient.type,
            ),
        )
        orm = s.execute(
            select(
                SourceRecord.id,
                SourceRecord.updated_at,
                SourceRecord.canonical,
                ResolutionEntry.sufficient,
            )
            .outerjoin(ResolutionEntry, ResolutionEntry.source_record_id == SourceRecord.id)
            .where(SourceRecord.id.in_(ids))
            .order_by(SourceRecord.id)
        ).all()
        assert raw == [tuple(r) for r in orm]
        assert any(isinstance(r[2], dict) for r in raw)
        assert all(r[3] in (True, False, None) for r in raw)


def test_small_and_large_updates_write_the_same_rows(resolved: sessionmaker[Session]) -> None:
    """One person (the per-row path) and more than ``SMALL_UPDATE`` (the bulk path)."""
    with transaction(resolved) as s:
        persons = list(s.scalars(select(Person.id).order_by(Person.id).limit(SMALL_UPDATE + 5)))
        assert len(persons) > SMALL_UPDATE
        refresh_persons(s, persons)
        before = {p.id: (p.tags, p.flags, p.conflicts, p.status, p.updated_at) for p in _all(s)}
        for ids in (persons[:1], persons):
            rows = [
                {
                    "id": pid,
                    "tags": ["x", "老人"],
                    "flags": [],
                    "conflicts": {"name": ["张三", "李四"]},
                    "status": before[pid][3],
                }
                for pid in ids
            ]
            assert update_rows(s, Person.__table__, "id", rows) == len(ids)  # type: ignore[arg-type]
            s.expire_all()
            after = {p.id: (p.tags, p.flags, p.conflicts, p.status) for p in _all(s)}
            for pid in ids:
                assert after[pid] == (["x", "老人"], [], {"name": ["张三", "李四"]}, before[pid][3])
        s.rollback()


def _all(s: Session) -> list[Person]:
    return list(s.scalars(select(Person)))
