"""The two places the civil-affairs database can live, and what each does to text.

* ``SqliteDatabase`` — a file, as a county office's legacy system keeps it. Text is
  **GB18030 bytes** in TEXT columns (written with ``CAST(? AS TEXT)``, which SQLite does not
  validate), exactly what a GBK-era client leaves behind; the SQLite3 ODBC driver hands
  those bytes over untouched. Rollback journal, not WAL: a writer's exclusive lock really
  does block readers, as on the real file.
* ``PostgresDatabase`` — a database of its own on a PostgreSQL server. PostgreSQL cannot
  store GB18030 (it is a client-only encoding there), so text is UTF-8 and the Unicode
  ODBC driver delivers it wide.

The simulator writes through Python's own drivers (sqlite3, psycopg): it is the legacy
application, not a reader; gridhub reads through ODBC only.
"""

from __future__ import annotations

import abc
import getpass
import os
import sqlite3
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from simulators.civil_affairs.schema import DICTIONARY_TABLE, TABLES, ddl, dictionary_rows

__all__ = ["Database", "Lock", "PostgresDatabase", "SqliteDatabase"]

Row = dict[str, Any]
TEXT_ENCODING = "gb18030"


class Lock(abc.ABC):
    """An exclusive lock another connection holds on the source until ``release``."""

    @abc.abstractmethod
    def release(self) -> None: ...

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


class Database(abc.ABC):
    kind: str

    @property
    @abc.abstractmethod
    def connection_string(self) -> str:
        """How gridhub reaches this database over ODBC."""

    @abc.abstractmethod
    def create(self) -> None:
        """Drop whatever is there and create the empty schema."""

    @abc.abstractmethod
    def insert(self, table: str, rows: Sequence[Row]) -> None: ...

    @abc.abstractmethod
    def update(self, table: str, row_id: int, values: Row) -> None: ...

    @abc.abstractmethod
    def select(
        self, table: str, columns: Sequence[str], where: str = "", params: Sequence[Any] = ()
    ) -> list[Row]:
        """Rows with text decoded (undecodable bytes are returned as bytes)."""

    @abc.abstractmethod
    def scalar(self, query: str) -> Any: ...

    @abc.abstractmethod
    def lock(self) -> Lock: ...

    @abc.abstractmethod
    def set_online(self, online: bool) -> None:
        """Make the database unreachable (False) or reachable again (True)."""


# -- SQLite ---------------------------------------------------------------------------


def _sqlite_value(value: Any, text: bool) -> Any:
    if value is None:
        return None
    if text:
        return value if isinstance(value, bytes) else str(value).encode(TEXT_ENCODING)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode(TEXT_ENCODING)
        except UnicodeDecodeError:
            return value
    return value


class _SqliteLock(Lock):
    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        if self._conn is not None:
            self._conn.execute("ROLLBACK")
            self._conn.close()
            self._conn = None  # type: ignore[assignment]


class SqliteDatabase(Database):
    kind = "sqlite"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).resolve()
        self._offline = self.path.with_name(self.path.name + ".offline")

    @property
    def connection_string(self) -> str:
        return f"Driver={{SQLite3}};Database={self.path}"

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.text_factory = bytes
        return conn

    def create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for p in (self.path, self._offline, self.path.with_name(self.path.name + "-journal")):
            p.unlink(missing_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=DELETE")
            for statement in ddl("sqlite"):
                conn.execute(statement)
            conn.executemany(
                f"INSERT INTO {DICTIONARY_TABLE} VALUES "
                "(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT))",
                [tuple(v.encode(TEXT_ENCODING) for v in r) for r in dictionary_rows()],
            )
        conn.close()

    def _placeholders(self, table: str, columns: Sequence[str]) -> list[str]:
        text = TABLES[table].text_columns
        return ["CAST(? AS TEXT)" if c in text else "?" for c in columns]

    def insert(self, table: str, rows: Sequence[Row]) -> None:
        if not rows:
            return
        columns = TABLES[table].column_names
        text = TABLES[table].text_columns
        marks = ", ".join(self._placeholders(table, columns))
        conn = self._connect()
        with conn:
            conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                [tuple(_sqlite_value(r.get(c), c in text) for c in columns) for r in rows],
            )
        conn.close()

    def update(self, table: str, row_id: int, values: Row) -> None:
        text = TABLES[table].text_columns
        columns = list(values)
        sets = ", ".join(
            f"{c} = {m}" for c, m in zip(columns, self._placeholders(table, columns), strict=True)
        )
        conn = self._connect()
        with conn:
            conn.execute(
                f"UPDATE {table} SET {sets} WHERE id = ?",
                [*(_sqlite_value(values[c], c in text) for c in columns), row_id],
            )
        conn.close()

    def select(
        self, table: str, columns: Sequence[str], where: str = "", params: Sequence[Any] = ()
    ) -> list[Row]:
        conn = self._connect()
        try:
            cur = conn.execute(f"SELECT {', '.join(columns)} FROM {table} {where}", params)
            return [dict(zip(columns, map(_decode, r), strict=True)) for r in cur.fetchall()]
        finally:
            conn.close()

    def scalar(self, query: str) -> Any:
        conn = self._connect()
        try:
            row = conn.execute(query).fetchone()
            return _decode(row[0]) if row else None
        finally:
            conn.close()

    def lock(self) -> Lock:
        return _SqliteLock(self.path)

    def set_online(self, online: bool) -> None:
        if online and self._offline.exists():
            os.replace(self._offline, self.path)
        elif not online and self.path.exists():
            os.replace(self.path, self._offline)


# -- PostgreSQL -----------------------------------------------------------------------


class _PostgresLock(Lock):
    def __init__(self, conninfo: str) -> None:
        self._conn: psycopg.Connection[Any] | None = psycopg.connect(conninfo)
        names = sql.SQL(", ").join(sql.Identifier(t) for t in TABLES)
        self._conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(names))

    def release(self) -> None:
        if self._conn is not None:
            self._conn.rollback()
            self._conn.close()
            self._conn = None


class PostgresDatabase(Database):
    kind = "postgresql"

    def __init__(
        self,
        dbname: str = "civil_affairs_sim",
        *,
        host: str = "127.0.0.1",
        port: int = 5432,
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        self.dbname, self.host, self.port = dbname, host, port
        self.user = user or getpass.getuser()
        self.password = password

    def _conninfo(self, dbname: str | None = None) -> str:
        info = f"host={self.host} port={self.port} user={self.user} dbname={dbname or self.dbname}"
        return info + (f" password={self.password}" if self.password else "") + " connect_timeout=5"

    @property
    def connection_string(self) -> str:
        text = (
            f"Driver={{PostgreSQL Unicode}};Server={self.host};Port={self.port};"
            f"Database={self.dbname};Uid={self.user}"
        )
        return text + (f";Pwd={{{self.password}}}" if self.password else "")

    def _admin(self, statement: sql.Composed) -> None:
        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            conn.execute(statement)

    def create(self) -> None:
        name = sql.Identifier(self.dbname)
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        self._admin(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(name))
        with psycopg.connect(self._conninfo()) as conn:
            for statement in ddl("postgresql"):
                conn.execute(statement.encode())

    def insert(self, table: str, rows: Sequence[Row]) -> None:
        if not rows:
            return
        columns = TABLES[table].column_names
        for row in rows:
            if any(isinstance(v, bytes) for v in row.values()):
                raise ValueError("PostgreSQL stores UTF-8 only: it cannot hold raw bytes as text")
        copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with psycopg.connect(self._conninfo()) as conn, conn.cursor().copy(copy) as cp:
            for row in rows:
                cp.write_row([row.get(c) for c in columns])

    def update(self, table: str, row_id: int, values: Row) -> None:
        if any(isinstance(v, bytes) for v in values.values()):
            raise ValueError("PostgreSQL stores UTF-8 only: it cannot hold raw bytes as text")
        sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in values)
        statement = sql.SQL("UPDATE {} SET {} WHERE id = %s").format(sql.Identifier(table), sets)
        with psycopg.connect(self._conninfo()) as conn:
            conn.execute(statement, [*values.values(), row_id])

    def select(
        self, table: str, columns: Sequence[str], where: str = "", params: Sequence[Any] = ()
    ) -> list[Row]:
        query = f"SELECT {', '.join(columns)} FROM {table} {where}".replace("?", "%s")
        with psycopg.connect(self._conninfo()) as conn:
            rows = conn.execute(query.encode(), params).fetchall()
        return [dict(zip(columns, r, strict=True)) for r in rows]

    def scalar(self, query: str) -> Any:
        with psycopg.connect(self._conninfo()) as conn:
            row = conn.execute(query.encode()).fetchone()
        return row[0] if row else None

    def lock(self) -> Lock:
        return _PostgresLock(self._conninfo())

    def set_online(self, online: bool) -> None:
        name = sql.Identifier(self.dbname)
        allow = sql.SQL("true" if online else "false")
        self._admin(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(name, allow))
        if not online:
            with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    [self.dbname],
                )

    def drop(self) -> None:
        self._admin(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.dbname))
        )
