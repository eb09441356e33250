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

What does not change: the rows (the person and its aggregates are built from the same SQL
text as ``ONE_TRIP_SQL``, ``api.person_rows.person_cte_sql`` and ``person_aggregates_sql``:
the same joins, order, limits and grid-scope test; only the time format differs), the
errors (a driver failure becomes what SQLAlchemy would make of it, a lost connection
invalidated), and the check the callers make in Python. ``tests/grpc_api/test_person_read.py``
compares the messages built from here with the shared path's on the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from psycopg import errors as pg_errors
from psycopg import pq
from sqlalchemy import Connection

from api.person_rows import person_aggregates_sql, person_cte_sql, translated_db_error
from api.policy import sees_everything
from identity import Principal

_US = "(extract(epoch FROM {}) * 1000000)::bigint"  # exact: extract is numeric (PG >= 14)
NAME = b"gridhub_grpc_person_v1"
_PREPARED = "gridhub.grpc.person_prepared"  # key in the pooled connection's info dict

PERSON_SQL = f"""{
    person_cte_sql(
        f"{_US.format('p.updated_at')} AS at", "$1", "$2::boolean", "$3", materialized=True
    )
}
SELECT json_build_array(
  p.id, p.uid, p.name, p.name_pinyin, p.resident_id, p.gender, p.birth_date, p.phone,
  p.grid_code, p.tags, p.flags, p.conflicts, p.status, p.at, p.residential, p.registered,
  p.merged_uid, p.shown,{person_aggregates_sql(_US, event_payload=False)})
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
