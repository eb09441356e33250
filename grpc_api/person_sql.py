"""``GetPerson``'s one statement, shaped for protobuf and sent straight through libpq.

Why a statement of its own: :data:`api.person_rows.ONE_TRIP_SQL` serves REST's views too, so
it returns rows of typed columns with times as ISO strings (``to_char`` in PostgreSQL, parsed
back to datetimes in Python). gRPC wants none of that: a protobuf ``Timestamp`` is seconds
and nanos, and the messages are filled from plain values. Here the same rows come back as
**one JSON array** with every time as integer microseconds since the epoch, decoded by one
C call (msgspec), and the statement runs through psycopg's libpq wrapper
(``PGconn.exec_prepared``, which waits without the GIL) instead of a cursor: the cursor's
per-call work — parameter dumping, prepare bookkeeping, result loaders — cost more server
CPU than the rest of the read. Event payloads, which no gRPC message carries, are not read.

What does not change: the rows (the same joins, order and limits as ``ONE_TRIP_SQL``, and
the same grid-scope test in SQL before any aggregate is read), the errors (a driver failure
becomes what SQLAlchemy would make of it, a lost connection invalidated), and the check the
callers make in Python. ``tests/grpc_api/test_person_read.py`` compares the messages built
from here with the shared path's on the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from psycopg import errors as pg_errors
from psycopg import pq
from sqlalchemy import Connection

from api.person_rows import OPEN_TASKS, RECENT_EVENTS, translated_db_error
from api.policy import sees_everything
from canonical_model import TaskState
from identity import Principal

_OPEN = (TaskState.PENDING, TaskState.ACCEPTED, TaskState.IN_PROGRESS)
_US = "(extract(epoch FROM {}) * 1000000)::bigint"  # exact: extract is numeric (PG >= 14)
NAME = b"gridhub_grpc_person_v1"
_PREPARED = "gridhub.grpc.person_prepared"  # key in the pooled connection's info dict

PERSON_SQL = f"""
WITH p AS MATERIALIZED (
  SELECT p.id, p.uid, p.name, p.name_pinyin, p.resident_id, p.gender, p.birth_date, p.phone,
         p.grid_code, p.tags, p.flags, p.conflicts, p.status, {_US.format("p.updated_at")} AS at,
         ra.normalized AS residential, rg.normalized AS registered, m.uid AS merged_uid,
         ($2::boolean OR EXISTS (
            SELECT 1 FROM unnest($3::text[]) AS s(code)
            WHERE starts_with(p.grid_code, s.code))) AS shown
  FROM person p
  LEFT JOIN address ra ON ra.id = p.residential_address_id
  LEFT JOIN address rg ON rg.id = p.registered_address_id
  LEFT JOIN person m ON m.id = p.merged_into_id
  WHERE p.uid = $1
)
SELECT json_build_array(
  p.id, p.uid, p.name, p.name_pinyin, p.resident_id, p.gender, p.birth_date, p.phone,
  p.grid_code, p.tags, p.flags, p.conflicts, p.status, p.at, p.residential, p.registered,
  p.merged_uid, p.shown,
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
                 s.version::bigint AS version, l.rule, {_US.format("l.chosen_at")} AS at
          FROM person_field_lineage l
          LEFT JOIN source_record s ON s.id = l.source_record_id
          WHERE l.person_id = p.id
          UNION ALL
          SELECT 1, NULL, s.source, s.stream, NULL, count(*), NULL,
                 {_US.format("max(s.updated_at)")}
          FROM source_record s WHERE s.person_id = p.id
          GROUP BY s.source, s.stream) u) END,
  CASE WHEN p.shown THEN (
    SELECT json_agg(json_build_array(e.uid, e.type, e.severity, {_US.format("e.occurred_at")},
                                     e.grid_code, e.source, e.source_ref, e.report_count,
                                     {_US.format("e.created_at")})
                    ORDER BY e.occurred_at DESC, e.id DESC)
    FROM (SELECT * FROM event WHERE person_id = p.id
          ORDER BY occurred_at DESC, id DESC LIMIT {RECENT_EVENTS}) e) END,
  CASE WHEN p.shown THEN (
    SELECT json_agg(json_build_array(t.uid, t.category, t.title, t.state, t.priority,
                                     {_US.format("t.sla_deadline")}, t.assignee)
                    ORDER BY t.sla_deadline, t.id)
    FROM (SELECT * FROM task
          WHERE person_id = p.id AND state IN ({", ".join(f"'{s.value}'" for s in _OPEN)})
          ORDER BY sla_deadline, id LIMIT {OPEN_TASKS}) t) END)
FROM p
"""

_decode = msgspec.json.Decoder().decode
_SQLSTATE = pq.DiagnosticField.SQLSTATE
_NO_SUCH_STATEMENT = b"26000"  # invalid_sql_statement_name
_ALREADY_PREPARED = b"42P05"  # duplicate_prepared_statement


@dataclass(slots=True)
class PersonJson:
    """``person``: id, uid, name, name_pinyin, resident_id, gender, birth_date (ISO string),
    phone, grid_code, tags, flags, conflicts, status, updated_at (µs), residential address,
    registered address, merged-into uid, shown (SQL's scope test). The lists are None when
    SQL's scope test failed; their rows are those of ``ONE_TRIP_SQL`` with times in µs since
    the epoch and events without their payload."""

    person: list[Any]
    household: list[Any] | None
    lineage_and_sources: list[Any] | None
    events: list[Any] | None
    tasks: list[Any] | None


def _scopes(principal: Principal) -> bytes:
    """The caller's grid codes as a PostgreSQL array literal (each element quoted)."""
    quoted = (
        '"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in sorted(principal.grids)
    )
    return ("{" + ",".join(quoted) + "}").encode("utf-8")


def fetch_person(conn: Connection, principal: Principal, uid: str) -> PersonJson | None:
    """One prepared statement on ``conn`` (autocommit); None if there is no such person."""
    params = [
        uid.encode("ascii"),
        b"t" if sees_everything(principal) else b"f",
        _scopes(principal),
    ]
    try:
        pgconn = conn.connection.driver_connection.pgconn  # type: ignore[union-attr]
        encoding = conn.info.get(_PREPARED)
        if encoding is None:
            encoding = _prepare(conn, pgconn)
        result = pgconn.exec_prepared(NAME, params)
        if result.error_field(_SQLSTATE) == _NO_SUCH_STATEMENT:  # the session lost it
            encoding = _prepare(conn, pgconn)
            result = pgconn.exec_prepared(NAME, params)
        _check(result, pq.ExecStatus.TUPLES_OK, encoding)
    except Exception as exc:
        raise translated_db_error(conn, exc) from None
    if result.ntuples == 0:
        return None
    value = result.get_value(0, 0)
    result.clear()
    if value is None:  # pragma: no cover - json_build_array is never NULL
        raise ValueError("the person statement returned NULL")
    row = _decode(value if encoding == "utf-8" else value.decode(encoding).encode("utf-8"))
    if not row[17]:
        return PersonJson(row[:18], None, None, None, None)
    return PersonJson(row[:18], row[18] or [], row[19] or [], row[20] or [], row[21] or [])


def _prepare(conn: Connection, pgconn: Any) -> str:
    """Prepare the statement in this session; remembered with the pooled connection (its
    ``info`` dict lives exactly as long as the session), with the session's encoding."""
    name = pgconn.parameter_status(b"client_encoding") or b"UTF8"
    encoding = "utf-8" if name.upper() in (b"UTF8", b"UNICODE") else name.decode().lower()
    result = pgconn.prepare(NAME, PERSON_SQL.encode("utf-8"))
    if result.error_field(_SQLSTATE) != _ALREADY_PREPARED:
        _check(result, pq.ExecStatus.COMMAND_OK, encoding)
    conn.info[_PREPARED] = encoding
    return encoding


def _check(result: Any, expected: pq.ExecStatus, encoding: str) -> None:
    if result.status != expected:
        raise pg_errors.error_from_result(result, encoding=encoding)


__all__ = ["NAME", "PERSON_SQL", "PersonJson", "fetch_person"]
