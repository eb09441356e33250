"""The rows behind one unified person record, fetched in one round trip (PostgreSQL) or a few.

PostgreSQL: one statement — the person row, and the household, lineage with per-source
counts, recent events and open tasks aggregated into JSON arrays by correlated subqueries —
sent straight to the driver's cursor (no SQL compilation, cache-key walk or result metadata
per request: this is the API's hottest path), and prepared server-side. The aggregates sit
behind the caller's grid scope *in SQL*, so for a person outside it nothing but the person
row is read; :mod:`api.person_record` still makes
the authoritative check in Python (:meth:`api.policy.Policy.visible`) and falls back to the
narrow queries if the two ever disagree.

SQLite (the embedded store, tests, the demo): the same rows from five narrow Core queries.
Both paths return the same shapes, so one set of view builders serves both, and a test
compares them on the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BindParameter,
    Connection,
    Select,
    bindparam,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import aliased

from api.policy import sees_everything
from canonical_model import (
    Address,
    Event,
    Household,
    HouseholdMember,
    Person,
    PersonFieldLineage,
    SourceRecord,
    Task,
    TaskState,
)
from canonical_model.base import UTCDateTime
from identity import Principal

RECENT_EVENTS = 10
OPEN_TASKS = 20
_OPEN = (TaskState.PENDING, TaskState.ACCEPTED, TaskState.IN_PROGRESS)
_UTC = UTCDateTime()


@dataclass(slots=True)
class PersonRows:
    """``person``: id, uid, name, name_pinyin, resident_id, gender, birth_date, phone,
    grid_code, tags, flags, conflicts, status, updated_at, residential address, registered
    address, merged-into uid. The lists hold the rows of :data:`_HOUSEHOLD`,
    :data:`_LINEAGE_AND_SOURCES`, :data:`_RECENT_EVENTS` and :data:`_OPEN_TASKS`, with
    times as aware UTC datetimes."""

    person: tuple[Any, ...]
    household: list[Any] | None = None
    lineage_and_sources: list[Any] | None = None
    events: list[Any] | None = None
    tasks: list[Any] | None = None


# --- PostgreSQL: one statement -------------------------------------------------------------

_T = """to_char(({}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""


def person_cte_sql(
    updated_at: str,
    uid: str,
    everything: str,
    scopes: str,
    *,
    materialized: bool = False,
    asked: str | None = None,
) -> str:
    """``WITH p AS (…)``: the person row, its addresses and merged-into uid, and ``shown``,
    SQL's grid-scope test, which every aggregate of :func:`person_aggregates_sql` waits on.
    ``updated_at`` is its select expression (with its alias); ``uid``, ``everything`` and
    ``scopes`` are the parameter markers of the calling driver.

    ``asked``: a FROM item ``q`` of several reads at once, one row each, with a column ``n``
    (``grpc_api.person_batch``); ``uid``, ``everything`` and ``scopes`` are then its columns,
    ``p`` gains ``n``, and a read of no person has no row."""
    source, where, n = "person p", f"\n  WHERE p.uid = {uid}", ""
    if asked is not None:
        source, where, n = f"{asked}\n  JOIN person p ON p.uid = {uid}", "", "q.n, "
    return f"""
WITH p AS {"MATERIALIZED " if materialized else ""}(
  SELECT {n}p.id, p.uid, p.name, p.name_pinyin, p.resident_id, p.gender, p.birth_date, p.phone,
         p.grid_code, p.tags, p.flags, p.conflicts, p.status, {updated_at},
         ra.normalized AS residential, rg.normalized AS registered, m.uid AS merged_uid,
         ({everything} OR EXISTS (
            SELECT 1 FROM unnest({scopes}::text[]) AS s(code)
            WHERE starts_with(p.grid_code, s.code))) AS shown
  FROM {source}
  LEFT JOIN address ra ON ra.id = p.residential_address_id
  LEFT JOIN address rg ON rg.id = p.registered_address_id
  LEFT JOIN person m ON m.id = p.merged_into_id{where}
)"""


def person_aggregates_sql(time: str, *, event_payload: bool) -> str:
    """The record's four aggregates over ``p`` — household, lineage and sources, recent
    events, open tasks — each None unless ``p.shown``. ``time`` formats a time column
    (``{}`` is the column). REST's statement and gRPC's (``grpc_api.person_sql``) are built
    from this one text, so the rows the two protocols serve cannot drift apart."""
    payload = ", e.payload" if event_payload else ""
    states = ", ".join(f"'{s.value}'" for s in _OPEN)
    return f"""
  CASE WHEN p.shown THEN (
    SELECT json_agg(json_build_array(mine.household_id, mine.relation, h.household_no,
                                     a.normalized, mem.person_id, mp.uid, mp.name,
                                     mp.grid_code, mem.relation)
                    ORDER BY mine.household_id, mp.uid)
    FROM household_member mine
    JOIN household h ON h.id = mine.household_id
    LEFT JOIN address a ON a.id = h.address_id
    JOIN household_member mem ON mem.household_id = mine.household_id
    JOIN person mp ON mp.id = mem.person_id
    WHERE mine.person_id = p.id) END,
  CASE WHEN p.shown THEN (
    SELECT json_agg(json_build_array(u.kind, u.field, u.source, u.stream, u.key, u.version,
                                     u.rule, u.at)
                    ORDER BY u.kind, u.field, u.source, u.stream)
    FROM (SELECT 0 AS kind, l.field, s.source, s.stream, s.source_key AS key,
                 s.version::bigint AS version, l.rule, {time.format("l.chosen_at")} AS at
          FROM person_field_lineage l
          LEFT JOIN source_record s ON s.id = l.source_record_id
          WHERE l.person_id = p.id
          UNION ALL
          SELECT 1, NULL, s.source, s.stream, NULL, count(*), NULL,
                 {time.format("max(s.updated_at)")}
          FROM source_record s WHERE s.person_id = p.id
          GROUP BY s.source, s.stream) u) END,
  CASE WHEN p.shown THEN (
    SELECT json_agg(json_build_array(e.uid, e.type, e.severity, {time.format("e.occurred_at")},
                                     e.grid_code, e.source, e.source_ref, e.report_count,
                                     {time.format("e.created_at")}{payload})
                    ORDER BY e.occurred_at DESC, e.id DESC)
    FROM (SELECT * FROM event WHERE person_id = p.id
          ORDER BY occurred_at DESC, id DESC LIMIT {RECENT_EVENTS}) e) END,
  CASE WHEN p.shown THEN (
    SELECT json_agg(json_build_array(t.uid, t.category, t.title, t.state, t.priority,
                                     {time.format("t.sla_deadline")}, t.assignee)
                    ORDER BY t.sla_deadline, t.id)
    FROM (SELECT * FROM task
          WHERE person_id = p.id AND state IN ({states})
          ORDER BY sla_deadline, id LIMIT {OPEN_TASKS}) t) END"""


ONE_TRIP_SQL = f"""{person_cte_sql("p.updated_at", "%(uid)s", "%(everything)s", "%(scopes)s")}
SELECT p.*,{person_aggregates_sql(_T, event_payload=True)}
FROM p
"""


def _times(rows: list[Any], dialect: Dialect, *columns: int) -> list[Any]:
    """JSON rows with their UTC time strings as aware datetimes (in place)."""
    for row in rows:
        for c in columns:
            if row[c] is not None:
                row[c] = _UTC.process_result_value(row[c], dialect)
    return rows


def translated_db_error(conn: Connection, exc: Exception) -> Exception:
    """What SQLAlchemy would have made of a driver error it did not see: the same exception
    types (so the API answers 503 for a lost database), and on a lost connection the same
    recovery — this connection invalidated and the pool replaced, since its siblings are as
    dead (the API's pool does not ping on checkout)."""
    dbapi = conn.dialect.loaded_dbapi
    if not isinstance(exc, dbapi.Error):
        return exc
    lost = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, None)
    if lost:
        conn.invalidate(exc)
        conn.engine.dispose(close=False)
    return DBAPIError.instance(
        None,
        None,
        exc,
        dbapi.Error,
        hide_parameters=True,
        connection_invalidated=lost,
        dialect=conn.dialect,
    )


def fetch_one_trip(conn: Connection, principal: Principal, uid: str) -> PersonRows | None:
    """PostgreSQL: every row of the record in one statement; None if there is no such person.

    The aggregates are None when the person is outside ``principal``'s scope (as SQL sees
    it); the caller decides with the policy and may fetch them with :func:`fetch_rest`.
    """
    params = {
        "uid": uid,
        "everything": sees_everything(principal),
        "scopes": sorted(principal.grids),
    }
    # The driver's own cursor: SQLAlchemy would rebuild its result metadata for 22 columns
    # on every call of an uncompiled statement, costing more than the rest of the read.
    driver = conn.connection.driver_connection
    try:
        with driver.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute(ONE_TRIP_SQL, params, prepare=True)
            row = cursor.fetchone()
    except Exception as exc:
        raise translated_db_error(conn, exc) from None
    if row is None:
        return None
    person = tuple(row[:17])
    if person[13] is not None:
        person = (*person[:13], _UTC.process_result_value(person[13], conn.dialect), *person[14:])
    if not row[17]:
        return PersonRows(person)
    return PersonRows(
        person,
        household=row[18] or [],
        lineage_and_sources=_times(row[19] or [], conn.dialect, 7),
        events=_times(row[20] or [], conn.dialect, 3, 8),
        tasks=_times(row[21] or [], conn.dialect, 5),
    )


# --- SQLite (and the fallback): five narrow queries -----------------------------------------

_Residential = aliased(Address)
_Registered = aliased(Address)
_Merged = aliased(Person)
_PERSON_BY_UID = (
    select(
        Person.id,
        Person.uid,
        Person.name,
        Person.name_pinyin,
        Person.resident_id,
        Person.gender,
        Person.birth_date,
        Person.phone,
        Person.grid_code,
        Person.tags,
        Person.flags,
        Person.conflicts,
        Person.status,
        Person.updated_at,
        _Residential.normalized,
        _Registered.normalized,
        _Merged.uid,
    )
    .outerjoin(_Residential, _Residential.id == Person.residential_address_id)
    .outerjoin(_Registered, _Registered.id == Person.registered_address_id)
    .outerjoin(_Merged, _Merged.id == Person.merged_into_id)
    .where(Person.uid == bindparam("uid"))
)


def fetch_person(conn: Connection, uid: str) -> PersonRows | None:
    row = conn.execute(_PERSON_BY_UID, {"uid": uid}).first()
    return None if row is None else PersonRows(tuple(row))


def fetch_rest(conn: Connection, rows: PersonRows) -> PersonRows:
    """Fill in everything but the person row, with one narrow query each."""
    pid = {"pid": rows.person[0]}
    rows.household = [tuple(r) for r in conn.execute(_HOUSEHOLD, pid)]
    at = _UTC.process_result_value  # the union loses the column type: restore aware times
    rows.lineage_and_sources = [
        (*r[:7], at(r[7], conn.dialect)) for r in conn.execute(_LINEAGE_AND_SOURCES, pid)
    ]
    rows.events = [tuple(r) for r in conn.execute(_RECENT_EVENTS, pid)]
    rows.tasks = [tuple(r) for r in conn.execute(_OPEN_TASKS, pid)]
    return rows


def _lineage_and_sources_statement() -> Select[Any]:
    """Lineage rows (kind 0) and per-stream counts (kind 1), unioned into one round trip."""
    person: BindParameter[int] = bindparam("pid")
    lineage = (
        select(
            literal(0).label("kind"),
            PersonFieldLineage.field,
            SourceRecord.source,
            SourceRecord.stream,
            SourceRecord.source_key,
            SourceRecord.version,
            PersonFieldLineage.rule,
            PersonFieldLineage.chosen_at.label("at"),
        )
        .outerjoin(SourceRecord, SourceRecord.id == PersonFieldLineage.source_record_id)
        .where(PersonFieldLineage.person_id == person)
    )
    counts = (
        select(
            literal(1),
            null(),
            SourceRecord.source,
            SourceRecord.stream,
            null(),
            func.count(),
            null(),
            func.max(SourceRecord.updated_at),
        )
        .where(SourceRecord.person_id == person)
        .group_by(SourceRecord.source, SourceRecord.stream)
    )
    both = union_all(lineage, counts).subquery()
    return select(both).order_by(both.c.kind, both.c.field, both.c.source, both.c.stream)


# Built once: a statement object memoises its cache key, so reuse costs no SQL compilation.
_LINEAGE_AND_SOURCES = _lineage_and_sources_statement()

_Mine = aliased(HouseholdMember)
_Member = aliased(HouseholdMember)
_HOUSEHOLD = (
    select(
        _Mine.household_id,
        _Mine.relation,
        Household.household_no,
        Address.normalized,
        _Member.person_id,
        Person.uid,
        Person.name,
        Person.grid_code,
        _Member.relation,
    )
    .join(Household, Household.id == _Mine.household_id)
    .outerjoin(Address, Address.id == Household.address_id)
    .join(_Member, _Member.household_id == _Mine.household_id)
    .join(Person, Person.id == _Member.person_id)
    .where(_Mine.person_id == bindparam("pid"))
    .order_by(_Mine.household_id, Person.uid)
)

EVENT_COLUMNS = (
    Event.uid,
    Event.type,
    Event.severity,
    Event.occurred_at,
    Event.grid_code,
    Event.source,
    Event.source_ref,
    Event.report_count,
    Event.created_at,
    Event.payload,
)
_RECENT_EVENTS = (
    select(*EVENT_COLUMNS)
    .where(Event.person_id == bindparam("pid"))
    .order_by(Event.occurred_at.desc(), Event.id.desc())
    .limit(RECENT_EVENTS)
)
_OPEN_TASKS = (
    select(
        Task.uid,
        Task.category,
        Task.title,
        Task.state,
        Task.priority,
        Task.sla_deadline,
        Task.assignee,
    )
    .where(Task.person_id == bindparam("pid"), Task.state.in_(_OPEN))
    .order_by(Task.sla_deadline, Task.id)
    .limit(OPEN_TASKS)
)

__all__ = [
    "EVENT_COLUMNS",
    "ONE_TRIP_SQL",
    "PersonRows",
    "fetch_one_trip",
    "fetch_person",
    "fetch_rest",
    "person_aggregates_sql",
    "person_cte_sql",
    "translated_db_error",
]
