"""Address search on both stores, and the PostgreSQL statistics that keep name searches on
the grid's index (migration 0011)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from api.person_search import SearchField, search_persons
from api.policy import REST, Access, Policy
from canonical_model import Address, GridLevel, GridUnit, Person
from canonical_model.store import downgrade, make_engine, session_factory, transaction, upgrade
from identity import Principal, Role

GRID = "330106001001001"
OTHER_GRID = "330106001001002"


@pytest.fixture
def people(engine: Engine) -> dict[str, str]:
    """Residents whose two addresses are the same, different, or only one of them known."""
    units = [
        GridUnit(code="330106", name="西湖区", level=GridLevel.DISTRICT),
        GridUnit(code="330106001", name="北山街道", level=GridLevel.SUBDISTRICT,
                 parent_code="330106"),
        GridUnit(code="330106001001", name="宝石社区", level=GridLevel.COMMUNITY,
                 parent_code="330106001"),
        GridUnit(code=GRID, name="一网格", level=GridLevel.GRID, parent_code="330106001001"),
        GridUnit(code=OTHER_GRID, name="二网格", level=GridLevel.GRID,
                 parent_code="330106001001"),
    ]  # fmt: skip
    with transaction(session_factory(engine)) as s:
        s.add_all(units)
        s.flush()
        wensan = Address(normalized="浙江省杭州市西湖区文三路90号3栋201室")
        baoshi = Address(normalized="浙江省杭州市西湖区宝石社区12号")
        jiaogong = Address(normalized="浙江省杭州市西湖区教工路8号")
        s.add_all([wensan, baoshi, jiaogong])
        s.flush()
        rows = {
            "same": Person(name="张伟", residential_address_id=wensan.id,
                           registered_address_id=wensan.id, grid_code=GRID),
            "moved": Person(name="李娜", residential_address_id=wensan.id,
                            registered_address_id=baoshi.id, grid_code=GRID),
            "registered_only": Person(name="王芳", registered_address_id=baoshi.id,
                                      grid_code=GRID),
            "residential_only": Person(name="赵敏", residential_address_id=jiaogong.id,
                                       grid_code=GRID),
            "elsewhere": Person(name="孙丽", residential_address_id=wensan.id,
                                registered_address_id=baoshi.id, grid_code=OTHER_GRID),
        }  # fmt: skip
        s.add_all(rows.values())
        s.flush()
        return {key: person.uid for key, person in rows.items()}


def _found(engine: Engine, q: str) -> set[str]:
    access = Access(Principal("W1", Role.GRID_WORKER, frozenset({GRID})), REST, "c")
    with session_factory(engine)() as s:
        page = search_persons(s, Policy(log_reads=False), access, q, field=SearchField.ADDRESS)
    return {p.uid for p in page.items}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        pytest.param("文三路", {"same", "moved"}, id="residential"),
        # found through the registered address alone, also with no residential address
        pytest.param("宝石社区", {"moved", "registered_only"}, id="registered-differs"),
        pytest.param("教工路", {"residential_only"}, id="no-registered-address"),
        pytest.param("西湖区", {"same", "moved", "registered_only", "residential_only"},
                     id="both-in-grid-only"),
        pytest.param("莫干山路", set(), id="nothing"),
    ],
)  # fmt: skip
def test_address_search_reads_both_addresses_within_the_grid(
    engine: Engine, people: dict[str, str], q: str, expected: set[str]
) -> None:
    assert _found(engine, q) == {people[key] for key in expected}


def _statistics_target(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                text(
                    "SELECT attstattarget FROM pg_attribute "
                    "WHERE attrelid = 'person'::regclass AND attname = 'name_pinyin'"
                )
            )
        )


@pytest.mark.integration
def test_name_pinyin_gets_a_finer_histogram_and_gives_it_back(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        assert _statistics_target(engine) == 1000
        downgrade(engine, "0010")
        assert _statistics_target(engine) == -1
        upgrade(engine)
        assert _statistics_target(engine) == 1000
    finally:
        engine.dispose()
