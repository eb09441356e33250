"""The scope as disjoint parts (``Policy.bound_scope_parts``), which the person search runs
as one branch each: together they must be exactly the scope, on both stores, for every kind of
caller — one grid, a grid and a unit below it, several grids, a community admin's prefix, a
micro-grid, a malformed grant — and the search built on them must show a caller exactly their
grids, in the same pages as before."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, insert, select

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
from identity.grids import is_grid_code

DISTRICT = "330106"
STREET = "330106001"
COMMUNITY = "330106001001"
OTHER_COMMUNITY = "330106001002"
G1 = "330106001001001"
G2 = "330106001001002"
G3 = "330106001002001"  # in the other community
M1 = "330106001001001001"  # a micro-grid under G1
M2 = "330106001001002007"  # a micro-grid under G2

# Stored codes, including ones no well-formed grant covers: the SQL may keep those (the
# Python check drops them), but the parts must keep exactly what the single scope keeps.
CODES = [
    None,
    DISTRICT,
    STREET,
    COMMUNITY,
    OTHER_COMMUNITY,
    G1,
    G2,
    G3,
    M1,
    M2,
    "330106001001001001001",  # below M1, longer than any level
    "3301060010010011",  # malformed: one digit under G1
    "33010600100100",  # malformed: a digit short of G1 and G2
    "330106001001003",  # a grid nobody holds
]


def _principal(role: Role, *grids: str) -> Principal:
    return Principal("S1", role, frozenset(grids))


PRINCIPALS = [
    pytest.param(_principal(Role.GRID_WORKER, G1), id="one-grid"),
    pytest.param(_principal(Role.GRID_WORKER, G1, M1), id="grid-and-its-micro-grid"),
    pytest.param(_principal(Role.GRID_WORKER, G1, G2, G3), id="several-grids"),
    pytest.param(_principal(Role.GRID_WORKER, M2), id="micro-grid-only"),
    pytest.param(_principal(Role.COMMUNITY_ADMIN, COMMUNITY), id="community-prefix"),
    pytest.param(_principal(Role.COMMUNITY_ADMIN, COMMUNITY, G1, G3), id="community-and-grids"),
    pytest.param(_principal(Role.PLATFORM, STREET, G3), id="platform-street-and-grid"),
    pytest.param(_principal(Role.PLATFORM), id="platform-no-grants"),
]


@pytest.fixture
def probe(engine: Engine) -> Iterator[Table]:
    table = Table(
        "scope_probe",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("grid_code", String(32)),
    )
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": n, "grid_code": c} for n, c in enumerate(CODES)])
    yield table
    table.drop(engine)


def _codes(
    engine: Engine, table: Table, condition: object, values: dict[str, str] | None = None
) -> list[str | None]:
    with engine.connect() as conn:
        ids = conn.scalars(select(table.c.id).where(condition), values or {})  # type: ignore[arg-type]
        return [CODES[i] for i in ids]


def _shown(principal: Principal) -> set[str]:
    """What the Python check lets the caller see of the stored codes."""
    return {c for c in CODES if c is not None and Policy.visible(principal, c)}


def _well_formed(codes: list[str | None]) -> set[str]:
    """The SQL may keep malformed stored codes under a grant (the Python check drops them);
    every well-formed one it keeps must be one the Python check allows, and no more."""
    return {c for c in codes if c is not None and is_grid_code(c)}


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_parts_are_disjoint_and_exactly_the_scope(
    engine: Engine, probe: Table, principal: Principal
) -> None:
    column = probe.c.grid_code
    codes = Policy.scope_codes(principal)
    assert codes is not None
    values = Policy.scope_values(codes)
    whole = _codes(engine, probe, Policy.bound_scope(len(codes), column), values)
    parts = Policy.bound_scope_parts(len(codes), column)
    found = [code for part in parts for code in _codes(engine, probe, part, values)]
    assert sorted(found, key=str) == sorted(whole, key=str)  # and no row in two parts
    assert _well_formed(found) == _shown(principal)


ALL_PRINCIPALS = [
    *PRINCIPALS,
    pytest.param(_principal(Role.DISTRICT_IT), id="district-it"),
    pytest.param(_principal(Role.PLATFORM, "*"), id="platform-everything"),
]


@pytest.mark.parametrize("principal", ALL_PRINCIPALS)
def test_scope_is_the_bound_scope_with_the_callers_codes(
    engine: Engine, probe: Table, principal: Principal
) -> None:
    """The per-request scope (codes attached to the statement) keeps exactly the rows of the
    cached one (codes bound at execution), and what the Python check allows."""
    column = probe.c.grid_code
    codes = Policy.scope_codes(principal)
    grants = None if codes is None else len(codes)
    values = Policy.scope_values(codes or ())
    attached = _codes(engine, probe, Policy.scope(principal, column))
    assert attached == _codes(engine, probe, Policy.bound_scope(grants, column), values)
    assert _well_formed(attached) == _shown(principal)
    if grants is None:  # sees everything: the null grid code too
        assert attached == CODES


def test_the_grid_itself_is_an_equality(engine: Engine, probe: Table) -> None:
    values = Policy.scope_values((G1,))
    parts = Policy.bound_scope_parts(1, probe.c.grid_code)
    assert _codes(engine, probe, parts[0], values) == [G1]
    assert sorted(_codes(engine, probe, parts[1], values), key=str) == sorted(
        [M1, "330106001001001001001", "3301060010010011"]
    )


@pytest.mark.parametrize(
    "principal",
    [
        pytest.param(_principal(Role.DISTRICT_IT), id="district-it"),
        pytest.param(_principal(Role.AUDITOR), id="auditor"),
        pytest.param(_principal(Role.PLATFORM, "*"), id="platform-everything"),
    ],
)
def test_who_sees_everything_has_no_codes(principal: Principal) -> None:
    assert Policy.scope_codes(principal) is None


# --- the search on top of them ------------------------------------------------------------


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
