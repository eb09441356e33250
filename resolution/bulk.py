"""Writing millions of rows in one resolution run without an ORM object per row.

A full run at district scale writes tens of millions of index rows, lineage rows and
links.  SQLAlchemy's per-row statement machinery costs more than SQLite itself here, so
rows go to the driver directly: ``executemany`` on SQLite, ``COPY`` on PostgreSQL (and
updates through a temporary table joined in one ``UPDATE``).  Values still pass through
each column type's own bind processing, so times, JSON and enums are stored exactly as
the ORM would store them.  Everything runs inside the caller's transaction, so a run
still commits all or nothing.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any

from sqlalchemy import JSON, Enum, Table, event, text
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

__all__ = [
    "fetch_rows",
    "foreign_keys_unchecked",
    "indexes_deferred",
    "insert_rows",
    "insert_tuples",
    "is_postgres",
    "large_cache",
    "update_rows",
    "update_tuples",
]

_CHUNK = 50_000
#: Up to this many rows an update is one prepared ``UPDATE`` per row (one statement on
#: SQLite, a pipelined ``executemany`` on PostgreSQL): the temporary table's four
#: statements cost more than the rows themselves when a placement updates one person.
SMALL_UPDATE = 100
Row = tuple[Any, ...]


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@contextmanager
def large_cache(session: Session, megabytes: int = 512) -> Iterator[None]:
    """A bigger SQLite page cache for one bulk run: index rows keyed by hashes land all
    over their B-tree, and with the default 2 MB cache nearly every insert reads a page
    from disk.  No-op on PostgreSQL (its buffers are the server's business)."""
    if is_postgres(session):
        yield
        return
    raw = _raw(session)
    before = raw.execute("PRAGMA cache_size").fetchone()[0]
    raw.execute(f"PRAGMA cache_size = -{megabytes * 1024}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size = {int(before)}")


#: Set in a pooled connection's ``info`` while its foreign-key checks are off.
_CHECKS_OFF = "gridhub.foreign_keys_off"


def _checks_back_on(dbapi_connection: Any, record: Any) -> None:
    """Pool ``checkin`` hook: a connection that ran without foreign-key checks gets them
    back before anyone else can check it out (after the pool's rollback, so the pragma
    is not swallowed by an open transaction)."""
    if record.info.pop(_CHECKS_OFF, False) and dbapi_connection is not None:
        dbapi_connection.execute("PRAGMA foreign_keys = ON")


def foreign_keys_unchecked(session: Session) -> bool:
    """Switch SQLite's foreign-key checks off for this session's unit of work, when it has
    not written yet (SQLite ignores the pragma inside a transaction); True if they are off.

    A full run writes tens of millions of rows that point at records and persons it read
    or created itself in the same transaction, and nothing deletes either, so each check
    only repeats what the run already knows.  It is not free: the check is a seek into the
    parent table, and the block index is written in key order, so at a million persons
    nearly every check lands on another page of a multi-gigabyte ``source_record`` (a
    4,000,000-row insert against a 3,000,000-record parent: 36 µs a row checked, 7 without).
    The checks come back when the connection returns to the pool (a ``checkin`` hook), so
    no other unit of work runs without them; a session bound to a connection it does not
    return keeps them off until that connection goes back.  No-op on PostgreSQL."""
    if is_postgres(session):
        return False
    raw = _raw(session)
    if raw.in_transaction:
        return False
    conn = session.connection()
    if not event.contains(conn.engine, "checkin", _checks_back_on):
        event.listen(conn.engine, "checkin", _checks_back_on)
    conn.connection.info[_CHECKS_OFF] = True
    raw.execute("PRAGMA foreign_keys = OFF")
    return True


@contextmanager
def indexes_deferred(
    session: Session,
    table: str,
    *,
    names: Collection[str] = (),
    columns: Collection[str] = (),
) -> Iterator[None]:
    """Drop ``table``'s non-unique indexes named in ``names`` or covering any of
    ``columns`` for a bulk rewrite, and build them again after.

    A bulk write in key order still lands in each secondary index in random order: at a
    million persons millions of scattered B-tree updates, where one ``CREATE INDEX``
    afterwards sorts once.  SQLite only, and only inside an open transaction: the drop is
    part of it, so a run that fails is rolled back with its drop (readers keep their
    snapshot meanwhile), and the indexes are rebuilt on the way out even when the body
    raises, so a caller that catches the error and commits cannot commit the drop either.
    On PostgreSQL a drop would lock readers out of the table until the run commits.
    Unique indexes are never dropped: they are the writes' own checks."""
    raw = None if is_postgres(session) else _raw(session)
    if raw is None or not raw.in_transaction:
        yield
        return
    found = raw.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL ORDER BY name",
        (table,),
    ).fetchall()
    dropped: list[tuple[str, str]] = []
    for name, sql in found:
        if sql.upper().startswith("CREATE UNIQUE"):
            continue
        covered = {info[2] for info in raw.execute(f'PRAGMA index_info("{name}")')}
        if name in names or covered & set(columns):
            dropped.append((name, sql))
    for name, _ in dropped:
        raw.execute(f'DROP INDEX "{name}"')
    try:
        yield
    finally:
        if raw.in_transaction:  # else SQLite rolled the transaction, and the drop, back
            for _, sql in dropped:
                raw.execute(_if_not_exists(sql))


def _if_not_exists(sql: str) -> str:
    head = "CREATE INDEX "
    if not sql.upper().startswith(head) or sql.upper().startswith(head + "IF NOT EXISTS"):
        return sql
    return f"{head}IF NOT EXISTS {sql[len(head) :]}"


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def _raw(session: Session) -> Any:
    session.flush()
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    return raw


def _processed(
    session: Session, table: Table, columns: Sequence[str], chunk: list[Row]
) -> list[Row]:
    """The chunk with every column's bind processing applied (column by column: most
    columns have none, and a per-value check for each would cost more than the insert)."""
    postgres = is_postgres(session)
    dialect = session.get_bind().dialect
    procs: list[tuple[int, Any, Callable[[Any], Any]]] = []
    for k, name in enumerate(columns):
        column_type = table.c[name].type
        proc: Callable[[Any], Any] | None
        if postgres:  # COPY: JSON as its text, enums by value, the rest as the driver adapts it
            proc = _json_text if isinstance(column_type, JSON) else None
            proc = _enum_value if isinstance(column_type, Enum) else proc
        else:
            proc = column_type._cached_bind_processor(dialect)
        if proc is not None:
            procs.append((k, column_type, proc))
    if not procs:  # the index's integer rows: transposing twice would be all the cost
        return chunk
    out: list[list[Any]] = [list(col) for col in zip(*chunk, strict=True)]
    for k, column_type, proc in procs:
        if isinstance(column_type, JSON):
            # most lists and mappings here are empty (a new person's tags, flags and
            # conflicts): those are serialised once
            blank: dict[type, Any] = {list: proc([]), dict: proc({})}
            out[k] = [
                None if v is None else blank[type(v)] if type(v) in blank and not v else proc(v)
                for v in out[k]
            ]
        else:  # times and enums repeat (one run stamps one time): process each value once
            done = {v: proc(v) for v in set(out[k]) if v is not None}
            out[k] = [None if v is None else done[v] for v in out[k]]
    return list(zip(*out, strict=True))


def _copy(session: Session, table: str, columns: Sequence[str], rows: list[Row]) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    with _raw(session).cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def fetch_rows(
    session: Session,
    sql: str,
    params: Sequence[Any] = (),
    types: Sequence[TypeEngine[Any] | None] = (),
) -> list[Row]:
    """Run ``sql`` (``?`` marks) straight at the driver, each column read as SQLAlchemy
    reads it (``types[k]``'s result processing: JSON, times, booleans, enums).

    The per-person paths run a handful of small statements per placement, and
    SQLAlchemy's statement machinery (coercion, cache key, result objects) costs several
    times what SQLite spends on an indexed lookup.  The driver connection is the one
    SQLAlchemy configured, so raw values are what its own cursor would have seen."""
    raw = _raw(session)
    dialect = session.get_bind().dialect
    if dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    cur = raw.cursor()
    try:
        cur.execute(sql, tuple(params))
        rows = list(cur.fetchall()) if cur.description is not None else []
    finally:
        cur.close()
    procs = [
        (k, proc)
        for k, t in enumerate(types)
        if t is not None and (proc := t._cached_result_processor(dialect, None)) is not None
    ]
    if not procs or not rows:
        return rows
    out = []
    for row in rows:
        values = list(row)
        for k, proc in procs:
            values[k] = proc(values[k])
        out.append(tuple(values))
    return out


def _many(session: Session, sql: str, rows: list[Row]) -> None:
    cur = _raw(session).cursor()
    try:
        cur.executemany(sql, rows)
    finally:
        cur.close()


def insert_tuples(
    session: Session, table: Table, columns: Sequence[str], rows: Iterable[Row]
) -> int:
    """Insert rows given as tuples in ``columns`` order; returns how many."""
    total = 0
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    for chunk in _chunks(rows, _CHUNK):
        data = _processed(session, table, columns, chunk)
        if is_postgres(session):
            _copy(session, table.name, columns, data)
        else:
            _many(session, f"INSERT INTO {table.name} ({names}) VALUES ({marks})", data)
        total += len(chunk)
    return total


def insert_rows(session: Session, table: Table, rows: Iterable[dict[str, Any]]) -> int:
    """Insert rows given as dicts (every row the same keys); returns how many."""
    it = iter(rows)
    first = next(it, None)
    if first is None:
        return 0
    columns = list(first)
    return insert_tuples(
        session, table, columns, (tuple(r[c] for c in columns) for r in (first, *it))
    )


def update_rows(session: Session, table: Table, key: str, rows: Iterable[dict[str, Any]]) -> int:
    """``UPDATE table SET … WHERE key = row[key]`` for each row (same keys in every row)."""
    it = iter(rows)
    first = next(it, None)
    if first is None:
        return 0
    columns = [*(c for c in first if c != key), key]
    return update_tuples(
        session, table, columns, (tuple(r[c] for c in columns) for r in (first, *it))
    )


def update_tuples(
    session: Session, table: Table, columns: Sequence[str], rows: Iterable[Row]
) -> int:
    """``UPDATE`` rows given as tuples in ``columns`` order, the key last: a full run's
    golden records are built as tuples, since a dict per person read back column by
    column cost more than the statement's bind processing."""
    key = columns[-1]
    values = list(columns[:-1])
    columns = list(columns)
    total = 0
    for chunk in _chunks(rows, _CHUNK):
        data = _processed(session, table, columns, chunk)
        if is_postgres(session) and len(chunk) <= SMALL_UPDATE:
            # the values as COPY would send them, cast to each column's type as the
            # temporary table's columns would have cast them
            dialect = session.get_bind().dialect
            sets = ", ".join(
                f'"{c}" = CAST(%s AS {table.c[c].type.compile(dialect=dialect)})' for c in values
            )
            _many(session, f'UPDATE {table.name} SET {sets} WHERE "{key}" = %s', data)
        elif is_postgres(session):
            dialect = session.get_bind().dialect
            temp = f"tmp_update_{table.name}"
            types = ", ".join(f'"{c}" {table.c[c].type.compile(dialect=dialect)}' for c in columns)
            session.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {temp} ({types})"))
            session.execute(text(f"TRUNCATE {temp}"))
            _copy(session, temp, columns, data)
            sets = ", ".join(f'"{c}" = t."{c}"' for c in values)
            match = f'{table.name}."{key}" = t."{key}"'
            session.execute(text(f"UPDATE {table.name} SET {sets} FROM {temp} t WHERE {match}"))
        else:
            sets = ", ".join(f'"{c}" = ?' for c in values)
            _many(session, f'UPDATE {table.name} SET {sets} WHERE "{key}" = ?', data)
        total += len(chunk)
    return total
