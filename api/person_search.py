"""Person search within the caller's grid units: name, pinyin, resident ID, phone, address.

Every branch is shaped to ride an index — a grid worker's scope (``person.grid_code``)
narrows to a few thousand rows, names use the pinyin-key index (``张`` searches the range of
keys starting ``zhang``, then filters on the name itself), ID numbers and phones use the
identifier index, and an address fragment walks the grid in uid order on
``ix_person_grid_uid`` (migration 0012) until the page is full. Only bound parameters reach
SQL, and ``LIKE`` wildcards in the query are escaped.

The query string itself is never logged: it is usually an ID number or a phone number.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import re
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Engine,
    Select,
    String,
    and_,
    bindparam,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from api import cursor as cursors
from api.config import DEFAULT_PAGE, MAX_PAGE, MAX_QUERY_CHARS
from api.errors import InvalidRequest
from api.held import held
from api.policy import Access, Policy
from api.views import PersonPage, PersonSummary, plain
from canonical_model import Address, Person, PersonIdentifier, PersonStatus
from canonical_model.values import (
    InvalidValue,
    normalize_address,
    normalize_name,
    parse_phone,
    parse_resident_id,
    pinyin_key,
    to_halfwidth,
)
from identity import Principal


class SearchField(enum.StrEnum):
    AUTO = "auto"
    NAME = "name"
    PINYIN = "pinyin"
    RESIDENT_ID = "resident_id"
    PHONE = "phone"
    ADDRESS = "address"


SUMMARY_FIELDS = ("name", "resident_id", "phone", "residential_address", "birth_date")
_CURSOR = "persons"
_ID = re.compile(r"[0-9]{17}[0-9Xx]|[0-9]{15}")
_PHONE = re.compile(r"(?:\+86|0086)?[0-9]{7,12}")
_PINYIN = re.compile(r"[a-z ]+")
_HAN_NAME = re.compile(r"[\u3400-\u9fff\U00020000-\U0003134f·]+")
_SEPARATORS = re.compile(r"[\s\-()]")
_PLACE_ENDINGS = frozenset("省市区县镇乡村路街巷弄号栋幢室")
_IDENTIFIER_HITS = 1000
_Residential = aliased(Address)
_Page = Select[*tuple[Any, ...]]
_Registered = aliased(Address)


def classify(query: str) -> SearchField:
    """Guess what ``query`` is from its shape (the caller may say instead)."""
    text = to_halfwidth(query).strip()
    compact = _SEPARATORS.sub("", text)
    if _ID.fullmatch(compact):
        return SearchField.RESIDENT_ID
    if _PHONE.fullmatch(compact):
        return SearchField.PHONE
    if _PINYIN.fullmatch(text.lower()):
        return SearchField.PINYIN
    if _HAN_NAME.fullmatch(text) and (len(text) <= 4 or "·" in text):
        if len(text) >= 3 and text[-1] in _PLACE_ENDINGS:
            return SearchField.ADDRESS  # 浙江省, 文三路; a name like this needs by=name
        return SearchField.NAME
    return SearchField.ADDRESS


def check_query(query: str) -> str:
    text = query.strip()
    if not 0 < len(text) <= MAX_QUERY_CHARS:
        raise InvalidRequest(f"q must be 1 to {MAX_QUERY_CHARS} characters", code="invalid_query")
    if not text.isprintable():
        raise InvalidRequest("q must not contain control characters", code="invalid_query")
    return text


def _next_prefix(prefix: str) -> str:
    """The smallest string above every string starting with ``prefix`` (ASCII keys)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _key_range(column: Any) -> ColumnElement[bool]:
    """Keys starting with the bound ``key_from``: a range an index serves, and the exact
    prefix test (values from :func:`_key_values`)."""
    return and_(
        column >= bindparam("key_from", type_=String),
        column < bindparam("key_to", type_=String),
        column.startswith(bindparam("key_prefix", type_=String), escape="/"),
    )


def _key_values(prefix: str) -> dict[str, str]:
    return {"key_from": prefix, "key_to": _next_prefix(prefix), "key_prefix": _like_escaped(prefix)}


def _identifier_ids(conn: Connection, kinds: Sequence[str], values: Sequence[str]) -> list[int]:
    return list(conn.scalars(_IDENTIFIER_IDS, {"kinds": list(kinds), "values": list(values)}))


_IDENTIFIER_IDS = (
    select(PersonIdentifier.person_id)
    .where(
        PersonIdentifier.kind.in_(bindparam("kinds", expanding=True)),
        PersonIdentifier.value.in_(bindparam("values", expanding=True)),
    )
    .limit(_IDENTIFIER_HITS)
)


def _bound_condition(field: SearchField) -> ColumnElement[bool]:
    """The WHERE clause of one kind of search, every value a bound parameter (named as
    :func:`_values` names them), so one statement per kind and caller serves every query."""
    ids = Person.id.in_(bindparam("ids", expanding=True))
    if field is SearchField.RESIDENT_ID:
        return or_(Person.resident_id == bindparam("number", type_=String), ids)
    if field is SearchField.PHONE:
        return or_(Person.phone == bindparam("phone", type_=String), ids)
    if field is SearchField.NAME:
        name = Person.name.startswith(bindparam("name", type_=String), escape="/")
        return and_(_key_range(Person.name_pinyin), name)
    if field is SearchField.PINYIN:
        return _key_range(Person.name_pinyin)
    return _address_condition(bindparam("fragment", type_=String))


def _values(conn: Connection, field: SearchField, text: str) -> dict[str, Any] | None:
    """The bound values of one search (:func:`_bound_condition`), or None when the query
    cannot match anything. ID numbers and phones look up the identifier index first."""
    compact = _SEPARATORS.sub("", to_halfwidth(text))
    if field is SearchField.RESIDENT_ID:
        try:
            number = parse_resident_id(compact).number
        except InvalidValue:
            return None
        ids = _identifier_ids(conn, ("resident_id", "legacy_resident_id"), [number, compact])
        return {"number": number, "ids": ids}
    if field is SearchField.PHONE:
        try:
            phone = parse_phone(text).number
        except InvalidValue:
            return None
        return {"phone": phone, "ids": _identifier_ids(conn, ("phone",), [phone])}
    if field is SearchField.NAME:
        try:
            name = normalize_name(text)
            keys = _key_values(pinyin_key(name))
        except (InvalidValue, IndexError):
            return None
        return {**keys, "name": _like_escaped(name)}
    if field is SearchField.PINYIN:
        syllables = " ".join(to_halfwidth(text).lower().split())
        if not _PINYIN.fullmatch(syllables):
            return None
        return _key_values(syllables)
    return {"fragment": _like_escaped(address_fragment(text, compact))}


def _like_escaped(text: str) -> str:
    """``text`` escaped as ``autoescape=True`` escapes a ``LIKE`` operand (escape character
    ``/``), for a value bound at execution rather than built into the statement."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _address_condition(fragment: str | BindParameter[str]) -> ColumnElement[bool]:
    """Residents whose address contains ``fragment``, already escaped (:func:`_like_escaped`)."""
    # The registered (户籍) address is looked at only when it is not the residential one
    # (usually it is): a correlated scalar subquery, evaluated row by row after the cheap
    # test, so the planner can neither probe it for every resident nor turn it into a scan
    # of every address matching the fragment.
    registered = (
        select(_Registered.normalized)
        .where(_Registered.id == Person.registered_address_id)
        .scalar_subquery()
    )
    return or_(
        _Residential.normalized.contains(fragment, escape="/"),
        and_(
            Person.registered_address_id.is_distinct_from(Person.residential_address_id),
            registered.contains(fragment, escape="/"),
        ),
    )


def address_fragment(text: str, compact: str) -> str:
    """``text`` in the stored addresses' canonical form, without the unit it did not name.

    The normaliser reads a full address, where a bare trailing number is the room
    (``3幢201`` → ``3栋201室``); in a fragment it is usually a number still being typed
    (``90号3幢2``, ``宝石社区1``), and the added ``室`` would stop it matching anything.
    """
    try:
        fragment = normalize_address(text)
    except InvalidValue:
        return compact
    if fragment.endswith("室") and not compact.endswith("室"):
        fragment = fragment[:-1]
    return fragment or compact


def _page_statement(
    grants: int | None,
    condition: ColumnElement[bool],
    limit: int,
    after: str | BindParameter[str] | None,
    *,
    split: bool,
) -> _Page:
    """The page's statement for callers with ``grants`` granted codes (None: who sees
    everything), the codes bound at execution (:func:`scope_values`); with ``split``, one
    ``SELECT`` per part of the scope, each ordered by uid and limited, under one
    ``ORDER BY uid LIMIT``.

    The parts are disjoint and together exactly the scope (:meth:`Policy.bound_scope_parts`), and
    the first n+1 rows of a union are among the first n+1 of its branches, so the page is the
    one a single statement over the whole scope gives. The split lets a grid's own rows come
    from ``ix_person_grid_uid`` in uid order: a search that no index narrows (an address
    fragment) stops at the page's last match instead of reading the grid and sorting it
    (~5,000 buffers, 9.5 ms → ~410 buffers, 1.2 ms at 1,000,000 persons). A search an index
    already narrows to a few rows gains nothing from it and would pay for planning every
    branch (~0.5 ms more), so it stays one statement.
    """

    def branch(scope: ColumnElement[bool]) -> _Page:
        stmt: _Page = (
            select(
                Person.uid,
                Person.name,
                Person.resident_id,
                Person.phone,
                _Residential.normalized,
                Person.gender,
                Person.birth_date,
                Person.grid_code,
                Person.status,
            )
            .outerjoin(_Residential, _Residential.id == Person.residential_address_id)
            .where(condition, scope, Person.status != PersonStatus.MERGED)
            .order_by(Person.uid)
            .limit(limit + 1)
        )
        return stmt if after is None else stmt.where(Person.uid > after)

    if not split or not grants:  # one statement, sees everything, or nothing at all
        return branch(Policy.bound_scope(grants, Person.grid_code))
    parts = Policy.bound_scope_parts(grants, Person.grid_code)
    # Each branch as a subquery: SQLite allows no ORDER BY or LIMIT on a compound's members.
    both = union_all(*(select(branch(part).subquery()) for part in parts)).subquery()
    return select(both).order_by(both.c.uid).limit(limit + 1)


@functools.lru_cache(maxsize=256)
def _search_page(field: SearchField, grants: int | None, limit: int, paged: bool) -> _Page:
    """The statement of one kind of search for every caller with ``grants`` granted codes,
    every value — the query's, the scope's, the cursor — bound at execution.

    Building it (the split address statement most of all) and walking it for its cache key
    cost 2–4 ms of CPU per search, more than PostgreSQL then spends running it; and one
    statement object shared by every caller of a shape also spares SQLAlchemy matching a
    cached compilation's result columns to a new statement's on every execution (~0.5 ms).
    Entries: kinds × distinct grant counts × page sizes × first/later page.
    """
    after = bindparam("after", type_=String) if paged else None
    split = field is SearchField.ADDRESS
    return _page_statement(grants, _bound_condition(field), limit, after, split=split)


def scope_values(principal: Principal) -> tuple[int | None, dict[str, str]]:
    """The caller's number of granted codes (None: sees everything) and their bound values."""
    codes = Policy.scope_codes(principal)
    return (None, {}) if codes is None else (len(codes), Policy.scope_values(codes))


@contextlib.contextmanager
def _connection(session: Session, policy: Policy) -> Iterator[Connection]:
    """Core statements (the ORM layer adds only CPU): on PostgreSQL, when the search writes
    nothing itself (its log entry is queued), on a held autocommit connection
    (:mod:`api.held`) — read-only statements need no BEGIN and COMMIT round trips, nor the
    session's transaction and a pool checkout; else on the session's connection."""
    bind = session.get_bind()
    if (
        bind.dialect.name == "postgresql"
        and not session.in_transaction()
        and not policy.writes_reads_inline
    ):
        with held(bind if isinstance(bind, Engine) else bind.engine).connection() as conn:
            yield conn
    else:
        yield session.connection()


def _rows(
    conn: Connection, principal: Principal, field: SearchField, text: str, limit: int,
    after: str | None,
) -> Sequence[Any]:  # fmt: skip
    """Up to ``limit`` + 1 matches in the caller's scope, ordered by uid."""
    params = _values(conn, field, text)
    if params is None:
        return []
    grants, scope = scope_values(principal)
    params.update(scope)
    if after is not None:
        params["after"] = after
    return conn.execute(_search_page(field, grants, limit, after is not None), params).all()


def search_persons(
    session: Session,
    policy: Policy,
    access: Access,
    query: str,
    *,
    field: SearchField = SearchField.AUTO,
    limit: int = DEFAULT_PAGE,
    cursor: str | None = None,
) -> PersonPage:
    """One page of matches, ordered by uid; the read is logged (uids shown, not the query)."""
    text = check_query(query)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be 1 to {MAX_PAGE}", code="invalid_limit")
    after = cursors.decode_str(cursor, _CURSOR, "after", 26) if cursor else None
    chosen = classify(text) if field is SearchField.AUTO else field
    with _connection(session, policy) as conn:
        rows = _rows(conn, access.principal, chosen, text, limit, after)
    items: list[PersonSummary] = []
    last: str | None = None
    if rows:
        more = len(rows) > limit
        last = rows[limit - 1][0] if more else None
        r = access.redactor
        items = [
            PersonSummary(
                uid=row[0],
                name=r.name(row[1]),
                resident_id=r.resident_id(row[2]),
                phone=r.phone(row[3]),
                address=r.address(row[4]),
                gender=plain(row[5]),
                birth_year=row[6].year if row[6] else None,
                grid_code=row[7],
                status=plain(row[8]),
            )
            for row in rows[:limit]
            if policy.visible(access.principal, row[7])
        ]
    policy.record_read(
        session,
        access,
        operation="person.search",
        persons=[p.uid for p in items],
        fields=SUMMARY_FIELDS,
        refs={"search_field": chosen.value},
        count=len(items),
    )
    return PersonPage(
        items=items,
        next_cursor=cursors.encode(_CURSOR, after=last) if last else None,
        masked=not access.redactor.clear,
    )


__all__ = [
    "SUMMARY_FIELDS",
    "SearchField",
    "address_fragment",
    "check_query",
    "classify",
    "search_persons",
]
