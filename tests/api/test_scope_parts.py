"""The person search on the scope's disjoint parts (``Policy.bound_scope_parts``, one branch
each; the parts themselves are tested in ``test_scope_sql``): it must show a caller exactly
their grids, in the same pages as the single statement."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from api.person_search import (
    SearchField,
    _bound_condition,
    _page_statement,
    _values,
    scope_values,
    search_persons,
)
from api.policy import REST, Access, Policy
from canonical_model import Address, GridLevel, GridUnit, Person, PersonStatus
from canonical_model.store import session_factory, transaction
from identity import Principal, Role
from tests.api.test_scope_sql import (
    COMMUNITY,
    DISTRICT,
    G1,
    G2,
    G3,
    M1,
    OTHER_COMMUNITY,
    PRINCIPALS,
    STREET,
    _principal,
)


@pytest.fixture
def district(engine: Engine) -> dict[str, str]:
    """uid → grid code: residents of two grids, a micro-grid, the community level itself and
    another community, all on 文三路, plus one merged resident who never shows."""
    units = [
        GridUnit(code=DISTRICT, name="西湖区", level=GridLevel.DISTRICT),
        GridUnit(code=STREET, name="北山街道", level=GridLevel.SUBDISTRICT, parent_code=DISTRICT),
        GridUnit(code=COMMUNITY, name="宝石社区", level=GridLevel.COMMUNITY, parent_code=STREET),
        GridUnit(code=OTHER_COMMUNITY, name="保俶社区", level=GridLevel.COMMUNITY,
                 parent_code=STREET),
        GridUnit(code=G1, name="一网格", level=GridLevel.GRID, parent_code=COMMUNITY),
        GridUnit(code=G2, name="二网格", level=GridLevel.GRID, parent_code=COMMUNITY),
        GridUnit(code=G3, name="保俶一网格", level=GridLevel.GRID, parent_code=OTHER_COMMUNITY),
        GridUnit(code=M1, name="一网格3幢", level=GridLevel.BUILDING, parent_code=G1),
    ]  # fmt: skip
    homes = [COMMUNITY, G1, G1, G1, M1, M1, G2, G2, G3]
    names = ["张伟", "张敏", "张丽", "张强", "张杰", "张娟", "张涛", "张明", "张超"]
    with transaction(session_factory(engine)) as s:
        s.add_all(units)
        s.flush()
        home = Address(normalized="浙江省杭州市西湖区文三路90号3栋201室")
        s.add(home)
        s.flush()
        people = [
            Person(name=n, name_pinyin="zhang", grid_code=g, residential_address_id=home.id)
            for n, g in zip(names, homes, strict=True)
        ]
        merged = Person(name="张伟", name_pinyin="zhang", grid_code=G1,
                        residential_address_id=home.id, status=PersonStatus.MERGED)  # fmt: skip
        s.add_all([*people, merged])
        s.flush()
        return {p.uid: str(p.grid_code) for p in people}


def _pages(
    engine: Engine, principal: Principal, q: str, field: SearchField, limit: int
) -> list[str]:
    """Every uid the search shows, page after page."""
    access = Access(principal, REST, "c")
    uids: list[str] = []
    cursor: str | None = None
    with session_factory(engine)() as s:
        while True:
            page = search_persons(
                s, Policy(log_reads=False), access, q, field=field, limit=limit, cursor=cursor
            )
            uids += [p.uid for p in page.items]
            if page.next_cursor is None:
                return uids
            cursor = page.next_cursor


SEARCHES = [
    pytest.param("文三路", SearchField.ADDRESS, id="address"),
    pytest.param("张", SearchField.NAME, id="name"),
    pytest.param("zhang", SearchField.PINYIN, id="pinyin"),
]


@pytest.mark.parametrize(("q", "field"), SEARCHES)
@pytest.mark.parametrize("principal", PRINCIPALS)
def test_search_shows_exactly_the_callers_grids_in_uid_order(
    engine: Engine,
    district: dict[str, str],
    principal: Principal,
    q: str,
    field: SearchField,
) -> None:
    """Paged at 1, 2 and 50 per page (one district per case: the limits share it)."""
    expected = sorted(u for u, g in district.items() if Policy.visible(principal, g))
    for limit in (1, 2, 50):
        assert _pages(engine, principal, q, field, limit) == expected, limit


def test_search_of_district_it_sees_every_grid(engine: Engine, district: dict[str, str]) -> None:
    admin = _principal(Role.DISTRICT_IT)
    assert _pages(engine, admin, "文三路", SearchField.ADDRESS, 3) == sorted(district)


@pytest.mark.parametrize(("q", "field"), SEARCHES)
@pytest.mark.parametrize("principal", PRINCIPALS)
def test_split_and_single_statement_give_the_same_rows(
    engine: Engine, district: dict[str, str], principal: Principal, q: str, field: SearchField
) -> None:
    """The search splits only address fragments; either shape must give the same page."""
    with engine.connect() as conn:
        values = _values(conn, field, q)
        assert values is not None
        grants, scope = scope_values(principal)
        condition = _bound_condition(field)
        pages = [
            conn.execute(
                _page_statement(grants, condition, 3, after, split=split), values | scope
            ).all()
            for split in (True, False)
            for after in (None, min(district))
        ]
    assert pages[0] == pages[2]
    assert pages[1] == pages[3]
    # Rows to compare whenever the caller sees anyone (M2, the micro-grid-only one, is empty).
    assert bool(pages[0]) == any(Policy.visible(principal, g) for g in district.values())


@pytest.mark.parametrize("q", ["%", "_", "/", "文三%", "文_路", "%%%%"])
@pytest.mark.parametrize("principal", PRINCIPALS)
def test_address_wildcards_are_text_for_every_caller(
    engine: Engine, district: dict[str, str], principal: Principal, q: str
) -> None:
    """The fragment is bound at execution, escaped as ``autoescape`` escapes it."""
    assert _pages(engine, principal, q, SearchField.ADDRESS, 5) == []
