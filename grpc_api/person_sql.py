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
The statement reads several persons at once, each for its own caller and scope
(:mod:`grpc_api.person_batch` groups the reads that wait at the same moment), one row each.

What does not change: the rows (the person and its aggregates are built from the same SQL
text as ``ONE_TRIP_SQL``, ``api.person_rows.person_cte_sql`` and ``person_aggregates_sql``:
the same joins, order, limits and grid-scope test; only the time format differs), the
errors (a driver failure becomes what SQLAlchemy would make of it, a lost connection
invalidated), and the check the callers make in Python. ``tests/grpc_api/test_person_read.py``
compares the messages built from here with the shared path's on the same data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
NAME = b"gridhub_grpc_persons_v1"
_PREPARED = "gridhub.grpc.persons_prepared"  # key in the pooled connection's info dict
#: The reads asked for, one row each: the uid, whether the caller sees everything, and the
#: caller's grid codes as an array literal (``_array``); ``n`` numbers them from 1. From JSON
#: rather than ``unnest`` of arrays: PostgreSQL sizes an array parameter's ``unnest`` from
#: the values, so no generic plan ever looked as cheap and every call was planned afresh
#: (the database's CPU a call doubled, measured); ``json_to_recordset`` is sized alike
#: either way, and the generic plan is kept after five calls as the single read's was.
_ASKED = "json_to_recordset($1::json) AS q(n int, uid text, every boolean, scopes text)"

PERSONS_SQL = f"""{
    person_cte_sql(
        f"{_US.format('p.updated_at')} AS at",
        "q.uid",
        "q.every",
        "q.scopes",
        materialized=True,
        asked=_ASKED,
    )
}
SELECT p.n, json_build_array(
  p.id, p.uid, p.name, p.name_pinyin, p.resident_id, p.gender, p.birth_date, p.phone,
  p.grid_code, p.tags, p.flags, p.conflicts, p.status, p.at, p.residential, p.registered,
  p.merged_uid, p.shown,{person_aggregates_sql(_US, event_payload=False)})
FROM p
"""

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
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


def _array(items: Iterable[str]) -> str:
    """A PostgreSQL array literal of ``items``, every element quoted."""
    quoted = ('"' + i.replace("\\", "\\\\").replace('"', '\\"') + '"' for i in items)
    return "{" + ",".join(quoted) + "}"


def fetch_persons(
    conn: Connection, asked: Sequence[tuple[Principal, str]]
) -> list[PersonJson | None]:
    """Each ``(caller, uid)`` read in one prepared statement on ``conn`` (autocommit), in
    order; None where there is no such person. The scope test is each caller's own."""
    params = [
        _encode(
            [
                {"n": n, "uid": uid, "every": sees_everything(p), "scopes": _array(sorted(p.grids))}
                for n, (p, uid) in enumerate(asked, 1)
            ]
        )
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
    found: list[PersonJson | None] = [None] * len(asked)
    try:
        for i in range(result.ntuples):
            n, value = result.get_value(i, 0), result.get_value(i, 1)
            if n is None or value is None:  # pragma: no cover - n is given, arrays are not NULL
                raise ValueError("the persons statement returned NULL")
            found[int(n) - 1] = _person(value if encoding == "utf-8" else _utf8(value, encoding))
    finally:
        result.clear()
    return found


def _utf8(value: bytes, encoding: str) -> bytes:
    return value.decode(encoding).encode("utf-8")


def _person(value: bytes) -> PersonJson:
    row = _decode(value)
    if not row[17]:
        return PersonJson(row[:18], None, None, None, None)
    return PersonJson(row[:18], row[18] or [], row[19] or [], row[20] or [], row[21] or [])


def _prepare(conn: Connection, pgconn: Any) -> str:
    """Prepare the statement in this session; remembered with the pooled connection (its
    ``info`` dict lives exactly as long as the session), with the session's encoding."""
    name = pgconn.parameter_status(b"client_encoding") or b"UTF8"
    encoding = "utf-8" if name.upper() in (b"UTF8", b"UNICODE") else name.decode().lower()
    result = pgconn.prepare(NAME, PERSONS_SQL.encode("utf-8"))
    if result.error_field(_SQLSTATE) != _ALREADY_PREPARED:
        _check(result, pq.ExecStatus.COMMAND_OK, encoding)
    conn.info[_PREPARED] = encoding
    return encoding


def _check(result: Any, expected: pq.ExecStatus, encoding: str) -> None:
    if result.status != expected:
        raise pg_errors.error_from_result(result, encoding=encoding)


__all__ = ["NAME", "PERSONS_SQL", "PersonJson", "fetch_persons"]
