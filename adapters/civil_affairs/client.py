"""Transport to the civil-affairs database: pyodbc over unixODBC, SQLite3 or PostgreSQL driver.

This module decides, in one place:

* **how text is decoded.** Legacy 民政 systems store GB18030 in narrow (``SQL_CHAR``)
  columns. pyodbc would decode those itself (``setdecoding``), but one undecodable value
  then fails the whole ``fetchmany`` — a single bad row would stop the sync. So narrow text
  is fetched as raw bytes (an output converter) and decoded here, value by value
  (``decode_text``); the stream quarantines the row that fails. Wide (``SQL_WCHAR``) text is
  already Unicode and pyodbc decodes it as UTF-16LE, set explicitly because unixODBC builds
  differ. Parameters go out in the database's own form (``setencoding``).
* **what to retry.** A locked SQLite file, a timeout, a lost or refused connection and a
  serialisation failure are transient: the connection is dropped and the statement re-run
  after an exponential, fully jittered delay. Anything else (no such table, bad password,
  missing driver) fails at once: retrying cannot fix it. Either way the caller gets
  ``SourceUnavailable`` whose message carries the SQLSTATE and the driver's words, which
  for these failures name hosts, files and tables, never record content.
* **how long a statement holds the source.** Connections are in autocommit and a page is
  fetched whole (``fetchmany`` in ``fetch_size`` steps) before it is handed on, so a reader
  holds SQLite's shared lock for one page, not for the length of a sync.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import pyodbc

from adapters.civil_affairs.config import CivilAffairsConfig
from adapters.contract import SourceUnavailable

__all__ = [
    "Dialect",
    "OdbcClient",
    "Page",
    "UndecodableText",
    "connection_attributes",
    "decode_text",
    "is_transient",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

_NARROW_TYPES = (pyodbc.SQL_CHAR, pyodbc.SQL_VARCHAR, pyodbc.SQL_LONGVARCHAR)
_TRANSIENT_STATES = frozenset({"HYT00", "HYT01", "40001", "40P01", "55P03", "57P01", "57P03"})
_PERMANENT_CONNECT = ("does not exist", "authentication failed", "pg_hba.conf", "permission")
_BUSY = ("database is locked", "database table is locked", "database is busy")


class Dialect(enum.Enum):
    """The SQL the source speaks, as far as this adapter needs to know."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"
    OTHER = "other"

    @classmethod
    def from_dbms(cls, dbms_name: str) -> Dialect:
        name = dbms_name.lower()
        if "sqlite" in name:
            return cls.SQLITE
        if "postgres" in name:
            return cls.POSTGRESQL
        return cls.OTHER

    def limit(self, sql: str, rows: int) -> str:
        """``sql`` returning at most ``rows`` rows (SQL:2008 where the source has it)."""
        if self is Dialect.SQLITE:
            return f"{sql} LIMIT {int(rows)}"
        return f"{sql} OFFSET 0 ROWS FETCH NEXT {int(rows)} ROWS ONLY"

    def timestamp_param(self, value: datetime) -> Any:
        """A timestamp bound so that the source compares it as it stores it.

        SQLite keeps timestamps as text (``YYYY-MM-DD HH:MM:SS[.ffffff]``) and compares text
        with text, so it gets that text; a typed column gets a typed parameter.
        """
        if self is Dialect.SQLITE:
            return value.isoformat(sep=" ")
        return value


class UndecodableText(ValueError):
    """Narrow text that is not in the configured encoding.

    ``issue`` is ``invalid`` (the bytes do not decode) or ``mismatch`` (they decode, but
    they are UTF-8 written into a GB18030 column by a newer client, and would come out as
    mojibake). Carries positions only, never the text.
    """

    def __init__(self, issue: str, detail: str) -> None:
        super().__init__(f"{issue}: {detail}")
        self.issue = issue
        self.detail = detail


def _is_cjk_text(text: str) -> bool:
    """Whether every non-ASCII character is one Chinese records are written in."""
    for ch in text:
        if ch.isascii() or ch == "\u00b7":
            continue
        cp = ord(ch)
        if not (0x3000 <= cp <= 0x9FFF or 0xFF00 <= cp <= 0xFFEF or 0x20000 <= cp <= 0x3134F):
            return False
    return True


#: Every well-formed UTF-8 byte string matches (and a few malformed ones): a test that is
#: cheap where the answer is no, which for GB18030 text it almost always is — a decode that
#: fails costs an exception, several times the price of this match.
_UTF8_SHAPED = re.compile(
    rb"(?:[\x00-\x7f]|[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3})*"
)


def _is_utf8_chinese(raw: bytes) -> bool:
    if _UTF8_SHAPED.fullmatch(raw) is None:
        return False
    try:
        return _is_cjk_text(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return False


def decode_text(raw: bytes, encoding: str) -> str:
    """Decode one narrow value; ``UndecodableText`` when it is not ``encoding``.

    Bytes that are well-formed UTF-8 spelling only Chinese text are a ``mismatch`` even when
    they happen to decode: GB18030 Chinese is almost never valid UTF-8 (a two-character name
    never is), while UTF-8 Chinese often decodes as GB18030 without an error, into nonsense.
    """
    if raw.isascii():
        return raw.decode("ascii")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding != "utf-8" and _is_utf8_chinese(raw):
            raise UndecodableText("mismatch", f"the value is UTF-8, not {encoding}") from None
        raise UndecodableText(
            "invalid", f"byte {exc.start + 1} of {len(raw)} is not valid {encoding}"
        ) from None
    if encoding == "utf-8" or not _is_utf8_chinese(raw):
        return text
    raise UndecodableText("mismatch", f"the value is UTF-8, not {encoding}")


_ATTR = re.compile(r"\s*([^=;]+?)\s*=\s*(\{(?:[^}]|\}\})*\}|[^;]*)\s*(?:;|$)")


def connection_attributes(connection_string: str) -> dict[str, str]:
    """``Key=value`` pairs of an ODBC connection string, keys lower-cased, braces kept."""
    return {m.group(1).lower(): m.group(2) for m in _ATTR.finditer(connection_string)}


def _effective_connection_string(config: CivilAffairsConfig) -> str:
    """The configured string, plus what the SQLite drivers need to behave as a client.

    Without ``NoCreat=1`` a mistyped path silently creates an empty database (and the sync
    then reports missing tables); without ``Timeout`` the driver waits 100 s or more on a
    locked file before it says so.
    """
    text = config.connection_string.get_secret_value().strip().rstrip(";")
    attrs = connection_attributes(text)
    if "sqlite" not in attrs.get("driver", "").lower():
        return text
    extra = []
    if "nocreat" not in attrs:
        extra.append("NoCreat=1")
    if "timeout" not in attrs:
        extra.append(f"Timeout={config.lock_timeout_ms}")
    return ";".join([text, *extra])


def _sqlstate(exc: BaseException) -> str:
    args: tuple[Any, ...] = exc.args
    if len(args) >= 2 and isinstance(args[0], str) and len(args[0]) == 5:
        return args[0]
    return "?????"


def describe(exc: BaseException) -> str:
    """The SQLSTATE and the driver's message, without the driver-manager noise."""
    args: tuple[Any, ...] = exc.args
    message = str(args[1] if len(args) >= 2 else exc)
    message = re.sub(r"\[[^\]]*\]", "", message)
    message = re.sub(r"\s*\(-?\d+\)\s*\(SQL\w+\)\s*$", "", message)
    message = " ".join(message.split())[:300]
    return f"[{_sqlstate(exc)}] {message or type(exc).__name__}"


def is_transient(exc: BaseException) -> bool:
    """Whether another attempt, after a pause, could succeed."""
    if not isinstance(exc, pyodbc.Error):
        return False
    state = _sqlstate(exc)
    message = str(exc).lower()
    if state in _TRANSIENT_STATES or any(b in message for b in _BUSY):
        return True
    if state.startswith("08"):  # connection exceptions: refused, lost, timed out
        return not any(p in message for p in _PERMANENT_CONNECT)
    return False


@dataclass(frozen=True, slots=True)
class Page:
    """The rows one statement returned, with the column names in select order."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def _identity(value: bytes | None) -> bytes | None:
    return value


class OdbcClient:
    """One lazily opened ODBC connection, statements with retries, text left undecoded."""

    def __init__(
        self,
        config: CivilAffairsConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        source: str = "civil_affairs",
    ) -> None:
        self.config = config
        self.source = source
        self._sleep = sleep
        self._connection: pyodbc.Connection | None = None
        self._dialect: Dialect | None = None
        self.statements = 0
        self.retries = 0

    # -- connection ------------------------------------------------------------------
    def _connect(self) -> pyodbc.Connection:
        if self._connection is not None:
            return self._connection
        cfg = self.config
        conn = pyodbc.connect(
            _effective_connection_string(cfg),
            autocommit=True,
            timeout=cfg.connect_timeout_s,
        )
        try:
            dialect = Dialect.from_dbms(str(conn.getinfo(pyodbc.SQL_DBMS_NAME)))
            self._configure(conn, dialect)
        except BaseException:
            conn.close()
            raise
        self._connection, self._dialect = conn, dialect
        return conn

    def _configure(self, conn: pyodbc.Connection, dialect: Dialect) -> None:
        cfg = self.config
        conn.setdecoding(pyodbc.SQL_CHAR, encoding=cfg.text_encoding)
        conn.setdecoding(pyodbc.SQL_WCHAR, encoding="utf-16le")
        conn.setdecoding(pyodbc.SQL_WMETADATA, encoding="utf-16le")
        if dialect is Dialect.SQLITE:
            # The SQLite drivers hand text over narrow, as stored: parameters must match.
            conn.setencoding(encoding=cfg.text_encoding, ctype=pyodbc.SQL_CHAR)
        else:
            conn.setencoding(encoding="utf-16le", ctype=pyodbc.SQL_WCHAR)
        for sql_type in _NARROW_TYPES:
            conn.add_output_converter(sql_type, _identity)
        if dialect is Dialect.POSTGRESQL:
            # psqlodbc has no statement-level timeout attribute; the server has both.
            conn.execute(f"SET statement_timeout = {int(cfg.query_timeout_s) * 1000}")
            conn.execute(f"SET lock_timeout = {int(cfg.lock_timeout_ms)}")
        elif dialect is Dialect.OTHER and cfg.query_timeout_s:
            try:
                conn.timeout = cfg.query_timeout_s
            except pyodbc.Error:
                log.info("%s: the ODBC driver has no query timeout", self.source)

    def dialect(self, *, retry: bool = True) -> Dialect:
        """The source's SQL dialect; connects (with retries unless told not to) if needed."""
        if retry:
            self._retrying("connect", self._connect)
        else:
            self._once("connect", self._connect)
        assert self._dialect is not None
        return self._dialect

    def close(self) -> None:
        conn, self._connection = self._connection, None
        if conn is not None:
            with contextlib.suppress(pyodbc.Error):  # already broken: nothing to release
                conn.close()

    # -- statements ------------------------------------------------------------------
    def fetch(self, sql: str, params: Sequence[Any] = (), *, retry: bool = True) -> Page:
        """All rows of one (bounded) statement; after a transient error the connection is
        dropped and the statement re-run from scratch. ``retry=False`` tries once: a health
        check should answer now, not in a minute."""

        def attempt() -> Page:
            cursor = self._connect().cursor()
            try:
                cursor.execute(sql, *params)
                columns = tuple(d[0] for d in cursor.description)
                rows: list[tuple[Any, ...]] = []
                while batch := cursor.fetchmany(self.config.fetch_size):
                    rows.extend(map(tuple, batch))
                return Page(columns, rows)
            finally:
                cursor.close()

        return self._retrying("query", attempt) if retry else self._once("query", attempt)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One write statement (autocommit), retried on transient errors; rows affected.

        Only write-backs use it, and every one is idempotent (keyed by its idempotency key),
        so re-running it after a dropped connection cannot write twice.
        """

        def attempt() -> int:
            cursor = self._connect().cursor()
            try:
                cursor.execute(sql, *params)
                return int(cursor.rowcount)
            finally:
                cursor.close()

        return self._retrying("write", attempt)

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        page = self.fetch(sql, params)
        return page.rows[0][0] if page.rows else None

    def _once(self, what: str, action: Callable[[], T]) -> T:
        try:
            result = action()
        except pyodbc.Error as exc:
            self.close()
            raise SourceUnavailable(f"{self.source}: {what} failed: {describe(exc)}") from None
        self.statements += 1
        return result

    def _retrying(self, what: str, action: Callable[[], T]) -> T:
        cfg = self.config
        attempts = cfg.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                result = action()
                self.statements += 1
                return result
            except pyodbc.Error as exc:
                self.close()
                if not is_transient(exc):
                    raise SourceUnavailable(
                        f"{self.source}: {what} failed: {describe(exc)}"
                    ) from None
                if attempt == attempts:
                    raise SourceUnavailable(
                        f"{self.source}: {what} still failing after {attempts} attempt(s): "
                        f"{describe(exc)}"
                    ) from None
                delay = random.uniform(
                    0, min(cfg.max_backoff_s, cfg.backoff_s * 2 ** (attempt - 1))
                )
                self.retries += 1
                log.warning(
                    "%s: %s failed (%s), attempt %d of %d; retrying in %.2f s",
                    self.source, what, describe(exc), attempt, attempts, delay,
                )  # fmt: skip
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover
