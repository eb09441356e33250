"""The cached search statements (one per caller, kind of search, page size and first/later
page, every value bound at execution) find exactly what a statement built afresh around the
query's values finds — on both stores, for every kind of search, with ``LIKE`` wildcards and
quotes in the query as plain text — and one statement serves every query of its shape."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import ColumnElement, Connection, Engine, and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from api.person_search import (
    SearchField,
    _search_page,
    _values,
    address_fragment,
    scope_values,
    search_persons,
)
from api.policy import REST, Access, Policy
from canonical_model import Address, Person, PersonIdentifier, PersonStatus
from canonical_model.store import transaction
from canonical_model.values import (
    InvalidValue,
    normalize_name,
    parse_phone,
    parse_resident_id,
    pinyin_key,
    to_halfwidth,
)
from identity import Principal, Role
from tests.api.district import COMMUNITY, G1, G2, P1_ID, P1_PHONE, Seeded
from tests.api.fixtures import store_url_each_backend

_SEPARATORS = str.maketrans("", "", " \t\n-()")


store_url = store_url_each_backend  # both backends (tests/api/fixtures.py)


@pytest.fixture
def crowd(seeded: Seeded, sessions: sessionmaker[Session]) -> Seeded:
    """The district plus residents whose names and addresses hold ``LIKE`` wildcards, the
    escape character and quotes, so a wrongly escaped or unbound value would match them."""
    with transaction(sessions) as s:
        odd = Address(normalized="浙江省杭州市西湖区文_路100%号'/3栋")
        s.add(odd)
        s.flush()
        people = [
            Person(name="张_伟", name_pinyin="zhang _ wei", grid_code=G1,
                   residential_address_id=odd.id),
            Person(name="张%", name_pinyin="zhang %", grid_code=G1),
            Person(name="张/强", name_pinyin="zhang / qiang", grid_code=G2),
            Person(name="张伟", name_pinyin="zhang wei", grid_code=G2, phone="13600002222"),
        ]  # fmt: skip
        s.add_all(people)
        s.flush()
        s.add(PersonIdentifier(person_id=people[3].id, kind="resident_id", value=P1_ID))
    return seeded


PRINCIPALS = [
    pytest.param(Principal("W1", Role.GRID_WORKER, frozenset({G1})), id="one-grid"),
    pytest.param(Principal("W9", Role.GRID_WORKER, frozenset({G1, G2})), id="two-grids"),
    pytest.param(Principal("CA", Role.COMMUNITY_ADMIN, frozenset({COMMUNITY})), id="community"),
    pytest.param(Principal("IT", Role.DISTRICT_IT), id="everything"),
]

QUERIES = [
    *((q, SearchField.NAME) for q in ("张", "张伟", "张_", "张%", "张/", "李", "赵敏")),
    *((q, SearchField.PINYIN) for q in ("zhang", "zhang w", "z", "zhang _", "li n")),
    *((q, SearchField.RESIDENT_ID) for q in (P1_ID, P1_ID[:-1] + "0", "330106195003071")),
    *((q, SearchField.PHONE) for q in (P1_PHONE, "13700009999", "13600002222", "+8613700001111")),
    *(
        (q, SearchField.ADDRESS)
        for q in ("文三路", "文_路", "100%", "'/3栋", "%", "_", "/", "宝石")
    ),
    ("x' OR '1'='1", SearchField.ADDRESS),
    ("张'; DROP TABLE person; --", SearchField.NAME),
]


def _reference_page(principal: Principal, condition: Any) -> Any:
    """Every match's uid in the caller's scope as :meth:`Policy.scope` writes it (codes as
    values), in uid order."""
    return (
        select(Person.uid)
        .where(condition, Policy.scope(principal, Person.grid_code))
        .where(Person.status != PersonStatus.MERGED)
        .order_by(Person.uid)
    )


def _reference_condition(conn: Connection, field: SearchField, text: str) -> Any:
    """The WHERE clause built around the query's own values (``autoescape``), as the search
    built it before its statements were cached: the yardstick."""
    compact = to_halfwidth(text).translate(_SEPARATORS)

    def ids(kinds: tuple[str, ...], values: list[str]) -> list[int]:
        stmt = select(PersonIdentifier.person_id).where(
            PersonIdentifier.kind.in_(kinds), PersonIdentifier.value.in_(values)
        )
        return list(conn.scalars(stmt.limit(1000)))

    def key_range(prefix: str) -> ColumnElement[bool]:
        column = Person.name_pinyin
        above = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return and_(column >= prefix, column < above, column.startswith(prefix, autoescape=True))

    if field is SearchField.RESIDENT_ID:
        try:
            number = parse_resident_id(compact).number
        except InvalidValue:
            return None
        found = ids(("resident_id", "legacy_resident_id"), [number, compact])
        return or_(Person.resident_id == number, Person.id.in_(found))
    if field is SearchField.PHONE:
        try:
            phone = parse_phone(text).number
        except InvalidValue:
            return None
        return or_(Person.phone == phone, Person.id.in_(ids(("phone",), [phone])))
    if field is SearchField.NAME:
        try:
            name = normalize_name(text)
        except InvalidValue:
            return None
        return and_(key_range(pinyin_key(name)), Person.name.startswith(name, autoescape=True))
    if field is SearchField.PINYIN:
        syllables = " ".join(text.lower().split())
        if not re.fullmatch("[a-z ]+", syllables):
            return None
        return key_range(syllables)
    fragment = address_fragment(text, compact)
    residential = select(Address.normalized).where(Address.id == Person.residential_address_id)
    registered = select(Address.normalized).where(Address.id == Person.registered_address_id)
    return or_(
        residential.scalar_subquery().contains(fragment, autoescape=True),
        registered.scalar_subquery().contains(fragment, autoescape=True),
    )


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_cached_statements_find_what_fresh_ones_find(
    engine: Engine, crowd: Seeded, principal: Principal
) -> None:
    """Every query, first page and a later one, at two page sizes."""
    checked = 0
    grants, scope = scope_values(principal)
    with engine.connect() as conn:
        for q, field in QUERIES:
            condition = _reference_condition(conn, field, q)
            values = _values(conn, field, q)
            assert (values is None) == (condition is None), q
            if condition is None or values is None:
                continue
            for limit in (1, 50):
                expected = list(conn.scalars(_reference_page(principal, condition)))
                pages: list[str] = []
                after: str | None = None
                while True:
                    stmt = _search_page(field, grants, limit, after is not None)
                    bound = {**values, **scope} | ({} if after is None else {"after": after})
                    rows = conn.execute(stmt, bound).all()
                    pages += [row[0] for row in rows[:limit]]
                    if len(rows) <= limit:
                        break
                    after = rows[limit - 1][0]
                assert pages == expected, (q, field, limit)
                checked += bool(expected)
    assert checked >= 20  # most queries find someone: the comparison is not of empty pages


def test_one_statement_serves_every_query_and_caller_of_a_shape(
    engine: Engine, crowd: Seeded
) -> None:
    """The same statement object for another query and another caller of the same shape,
    and its values are theirs: a second search is not answered with the first one's rows,
    nor a second caller with the first one's grid."""
    assert _search_page(SearchField.NAME, 1, 20, False) is _search_page(
        SearchField.NAME, 1, 20, False
    )
    assert _search_page(SearchField.NAME, 1, 20, False) is not _search_page(
        SearchField.NAME, 2, 20, False
    )
    assert _search_page(SearchField.NAME, 1, 20, False) is not _search_page(
        SearchField.PINYIN, 1, 20, False
    )
    g1 = Access(Principal("W1", Role.GRID_WORKER, frozenset({G1})), REST, "c")
    g2 = Access(Principal("W4", Role.GRID_WORKER, frozenset({G2})), REST, "c")
    policy = Policy(log_reads=False)
    with Session(engine) as session:
        found = {
            (who, q): search_persons(session, policy, access, q, field=SearchField.NAME).items
            for who, access in (("g1", g1), ("g2", g2))
            for q in ("张", "李", "王")
        }
    grids = {key: {p.grid_code for p in items} for key, items in found.items()}
    names = {key: {(p.name or "")[:1] for p in items} for key, items in found.items()}
    assert grids == {("g1", "张"): {G1}, ("g1", "李"): {G1}, ("g1", "王"): set(),
                     ("g2", "张"): {G2}, ("g2", "李"): set(), ("g2", "王"): {G2}}  # fmt: skip
    assert all(names[key] <= {key[1]} for key in names)
