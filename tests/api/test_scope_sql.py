"""The grid scope as SQL (``Policy.scope``, ``bound_scope``, ``bound_scope_parts``) on
both stores — the ranges lean on how each sorts text — for every kind of caller: one grid, a
grid and a unit below it, several grids, a community admin's prefix, a micro-grid, a malformed
grant, no grant, everything. The parts must be disjoint and together exactly the scope, the
codes attached to the statement and bound at execution must keep the same rows, and every
well-formed code kept must be one the Python check (``Policy.visible``) allows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, insert, select

from api.policy import Policy
from identity import Principal, Role
from identity.grids import is_grid_code
from tests.api.fixtures import store_url_each_backend

store_url = store_url_each_backend  # both backends (tests/api/fixtures.py)

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
