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

import enum
import functools
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
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


def _key_range(column: Any, prefix: str) -> ColumnElement[bool]:
    return and_(
        column >= prefix,
        column < _next_prefix(prefix),
        column.startswith(prefix, autoescape=True),
    )


def _identifier_ids(conn: Connection, kinds: Sequence[str], values: Sequence[str]) -> list[int]:
    return list(
        conn.scalars(
            select(PersonIdentifier.person_id)
            .where(PersonIdentifier.kind.in_(kinds), PersonIdentifier.value.in_(values))
            .limit(_IDENTIFIER_HITS)
        )
    )


def _condition(conn: Connection, field: SearchField, text: str) -> ColumnElement[bool] | None:
    """The WHERE clause for one search, or None when the query cannot match anything."""
    compact = _SEPARATORS.sub("", to_halfwidth(text))
    if field is SearchField.RESIDENT_ID:
        try:
            number = parse_resident_id(compact).number
        except InvalidValue:
            return None
        ids = _identifier_ids(conn, ("resident_id", "legacy_resident_id"), [number, compact])
        return or_(Person.resident_id == number, Person.id.in_(ids))
    if field is SearchField.PHONE:
        try:
            phone = parse_phone(text).number
        except InvalidValue:
            return None
        ids = _identifier_ids(conn, ("phone",), [phone])
        return or_(Person.phone == phone, Person.id.in_(ids))
    if field is SearchField.NAME:
        try:
            name = normalize_name(text)
            key = pinyin_key(name)
        except (InvalidValue, IndexError):
            return None
        return and_(
            _key_range(Person.name_pinyin, key), Person.name.startswith(name, autoescape=True)
        )
    if field is SearchField.PINYIN:
        syllables = " ".join(to_halfwidth(text).lower().split())
        if not _PINYIN.fullmatch(syllables):
            return None
        return _key_range(Person.name_pinyin, syllables)
    return _address_condition(_like_escaped(address_fragment(text, compact)))


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
    principal: Principal,
    condition: ColumnElement[bool],
    limit: int,
    after: str | BindParameter[str] | None,
    *,
    split: bool,
) -> _Page:
    """The page's statement; with ``split``, one ``SELECT`` per part of the caller's scope,
    each ordered by uid and limited, under one ``ORDER BY uid LIMIT``.

    The parts are disjoint and together exactly the scope (:meth:`Policy.scope_parts`), and
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

    parts = Policy.scope_parts(principal, Person.grid_code) if split else None
    if not parts:  # one statement, sees everything, or nothing at all
        return branch(Policy.scope(principal, Person.grid_code))
    # Each branch as a subquery: SQLite allows no ORDER BY or LIMIT on a compound's members.
    both = union_all(*(select(branch(part).subquery()) for part in parts)).subquery()
    return select(both).order_by(both.c.uid).limit(limit + 1)


@functools.lru_cache(maxsize=256)
def _address_page(principal: Principal, limit: int, paged: bool) -> _Page:
    """A caller's address-search statement, the fragment (and the cursor) bound at execution:
    building the split statement costs ~2 ms of CPU per search, more than PostgreSQL then
    spends running it. One entry per caller (their scope), page size and first/later page;
    an entry holds ~100 kB, so 256 of them bound it to ~25 MB per worker process."""
    condition = _address_condition(bindparam("fragment", type_=String))
    after = bindparam("after", type_=String) if paged else None
    return _page_statement(principal, condition, limit, after, split=True)


def _connection(session: Session, policy: Policy) -> Connection:
    """Core statements on the session's connection (the ORM layer adds only CPU); on
    PostgreSQL in autocommit when the search writes nothing itself (its log entry is queued):
    read-only statements need no BEGIN and COMMIT round trips around them."""
    if (
        session.get_bind().dialect.name == "postgresql"
        and not session.in_transaction()
        and not policy.writes_reads_inline
    ):
        return session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return session.connection()


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
    conn = _connection(session, policy)
    stmt: _Page | None = None
    params: dict[str, str] = {}
    if chosen is SearchField.ADDRESS:
        compact = _SEPARATORS.sub("", to_halfwidth(text))
        stmt = _address_page(access.principal, limit, after is not None)
        params["fragment"] = _like_escaped(address_fragment(text, compact))
        if after is not None:
            params["after"] = after
    elif (condition := _condition(conn, chosen, text)) is not None:
        stmt = _page_statement(access.principal, condition, limit, after, split=False)
    items: list[PersonSummary] = []
    last: str | None = None
    if stmt is not None:
        rows = conn.execute(stmt, params).all()
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
