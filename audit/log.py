"""Appending to the exchange log inside the caller's transaction.

An entry commits or rolls back with the work it describes (a sync batch's records, its cursor
and its log entry), so the log never claims an exchange that did not happen, nor misses one
that did. ``seq`` is ``head + 1`` and ``prev_hash`` the head's hash, read under a lock that
serialises appenders:

* PostgreSQL: ``pg_advisory_xact_lock`` on a fixed key, taken before the head is read. Under
  READ COMMITTED (the default) the head query then sees every earlier appender's commit.
* SQLite: a no-op ``UPDATE … WHERE 0`` first, which makes the driver open the transaction and
  take SQLite's single write lock *before* the head is read (``BEGIN IMMEDIATE`` semantics).

Trade-off: the lock is held from the first append until the caller's transaction ends, so
concurrent appenders queue behind the slowest transaction that has appended. Call ``append``
as late as possible — just before commit — to keep that window short. Correctness does not
rest on the lock alone: ``seq`` is the primary key and each hash covers its ``seq``, so a
writer that bypassed the lock (or ran at REPEATABLE READ with a stale snapshot) chains after a
stale head, claims a ``seq`` that is taken, and fails with an integrity error instead of
forking the chain (no unique index on ``entry_hash`` is needed for that: migration 0014).
Within one transaction the head is cached, so a batch of appends costs one lock and one head
query.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select, text
from sqlalchemy.orm import Session, SessionTransaction, make_transient_to_detached

from audit.canonical import (
    FIELDS,
    GENESIS,
    entry_hash_of,
    plain_json,
    refs_json,
    rfc3339,
)
from canonical_model import Direction, ExchangeLogEntry, utcnow

_HEAD_KEY: Final = "gridhub.audit.head"
_INSERT: Final = (
    f"INSERT INTO exchange_log ({', '.join((*FIELDS, 'entry_hash'))}) "
    f"VALUES ({', '.join(['{mark}'] * (len(FIELDS) + 1))})"
)
_INSERT_SQLITE: Final = _INSERT.format(mark="?")  # the drivers' own parameter styles
_INSERT_PG: Final = _INSERT.format(mark="%s")
INSERT_PG: Final = _INSERT_PG
"""The INSERT of :func:`chain_rows`' rows, in psycopg's parameter style."""
HEAD_SQL: Final = "SELECT seq, entry_hash FROM exchange_log ORDER BY seq DESC LIMIT 1"
""":data:`_HEAD` as plain SQL, for callers on a raw driver connection."""
# A stable 63-bit advisory-lock key, derived from a name so it cannot collide by accident.
LOCK_KEY: Final = int.from_bytes(
    hashlib.sha256(b"gridhub.audit.exchange_log").digest()[:8], "big", signed=True
)
_SQLITE_WRITE_LOCK: Final = text("UPDATE exchange_log SET seq = seq WHERE 0")
_PG_LOCK: Final = text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=LOCK_KEY)
#: Core columns, not ORM attributes: compiling a statement over ORM attributes configures
#: every mapper of the model on its first use (~30 ms), which every sync paid at its first
#: checkpoint although nothing on that path loads an object.
_LOG_TABLE = ExchangeLogEntry.__table__
_HEAD: Final = (
    select(_LOG_TABLE.c.seq, _LOG_TABLE.c.entry_hash).order_by(_LOG_TABLE.c.seq.desc()).limit(1)
)
_TEXT_FIELDS: Final = (
    "counterpart",
    "actor_subject",
    "actor_role",
    "purpose",
    "operation",
    "payload_sha256",
    "result",
    "correlation_id",
)
# The model's column widths, checked here so SQLite (which ignores them) acts like PostgreSQL.
_LIMITS: Final = {
    name: int(getattr(ExchangeLogEntry.__table__.c[name].type, "length", 0) or 0)
    for name in _TEXT_FIELDS
}
_REQUIRED: Final = frozenset({"counterpart", "actor_subject", "operation", "result"})


@dataclass(frozen=True, slots=True)
class Head:
    """The newest entry: what the next one chains to."""

    seq: int
    entry_hash: str


def lock_chain(session: Session) -> None:
    """Take the appenders' lock for the rest of the caller's transaction."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(_PG_LOCK)
    elif dialect == "sqlite":
        session.execute(_SQLITE_WRITE_LOCK)
    else:  # pragma: no cover - only the two supported stores
        raise NotImplementedError(f"exchange log on {dialect}")


def _innermost(session: Session) -> SessionTransaction | None:
    return session.get_nested_transaction() or session.get_transaction()


def head(session: Session, *, lock: bool = True) -> Head:
    """The chain head, read under the lock (unless ``lock=False``, for read-only callers)."""
    txn = _innermost(session)
    cached = session.info.get(_HEAD_KEY)
    if lock and txn is not None and cached is not None and cached[0] is txn:
        return Head(cached[1], cached[2])
    session.flush()
    if lock:
        lock_chain(session)
    row = session.execute(_HEAD).first()
    found = Head(0, GENESIS) if row is None else Head(int(row[0]), str(row[1]))
    if lock:
        # Keyed by the innermost transaction object: a rolled-back savepoint or a new
        # transaction is a different object, so a stale head is never reused.
        session.info[_HEAD_KEY] = (_innermost(session), found.seq, found.entry_hash)
    return found


def _text(name: str, value: str | None) -> str | None:
    if type(value) is str and 0 < len(value) <= _LIMITS[name] and "\x00" not in value:
        return value  # the common case, checked in one go
    if value is None or value == "":
        if name in _REQUIRED:
            raise ValueError(f"{name} is required")
        return None  # "" and None hash differently; CSV exports cannot tell them apart
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string")
    if len(value) > _LIMITS[name]:
        raise ValueError(f"{name} longer than {_LIMITS[name]} characters")
    if "\x00" in value:
        raise ValueError(f"{name}: NUL character refused")
    return value


def append(
    session: Session,
    *,
    direction: Direction | str,
    counterpart: str,
    actor_subject: str,
    actor_role: str | None = None,
    purpose: str | None = None,
    operation: str,
    object_refs: Mapping[str, Any] | None = None,
    record_count: int = 0,
    payload_sha256: str | None = None,
    result: str = "ok",
    correlation_id: str | None = None,
    at: datetime | None = None,
) -> ExchangeLogEntry:
    """Write one entry in the caller's transaction (not committed here) and return it.

    ``object_refs`` names what the exchange touched by opaque ids, e.g.
    ``{"persons": [uid, …], "tasks": [uid, …]}`` — never names or ID numbers: the log is kept
    for years and shown to auditors. ``at`` defaults to now, taken under the lock so that
    times follow ``seq`` on one clock.

    The row is inserted at once (errors surface here, not at commit) with a plain INSERT, which
    costs a fraction of an ORM flush. The entry returned is therefore *detached*: it is a
    faithful copy of the row, and adding it to a session attaches it without a second INSERT.
    """
    fields = _validated(
        direction=direction,
        counterpart=counterpart,
        actor_subject=actor_subject,
        actor_role=actor_role,
        purpose=purpose,
        operation=operation,
        object_refs=object_refs,
        record_count=record_count,
        payload_sha256=payload_sha256,
        result=result,
        correlation_id=correlation_id,
    )
    at_text = None if at is None else rfc3339(at)  # refuses a naive time before the lock
    ((seq, when, prev_hash, digest),) = _write(session, [(fields, at, at_text)])
    entry = ExchangeLogEntry(
        **{**fields, "direction": Direction(fields["direction"])},
        seq=seq,
        at=when,
        prev_hash=prev_hash,
        entry_hash=digest,
    )
    make_transient_to_detached(entry)
    return entry


def append_many(session: Session, entries: Iterable[Mapping[str, Any]]) -> list[Head]:
    """Append several entries (each with :func:`append`'s keywords) in one ``executemany``.

    For batches — a sync run logging each inbound batch, a bulk read. Entries are validated
    before the lock is taken; entries without ``at`` share one timestamp, taken under it.
    """
    return append_prepared(session, [prepare(item) for item in entries])


Prepared = tuple[dict[str, Any], datetime | None, str | None]
"""An entry checked and ready to chain: its fields, and ``at`` (or None: taken at chaining)."""


def prepare(entry: Mapping[str, Any]) -> Prepared:
    """Check one entry (:func:`append`'s keywords) without touching the store.

    For appenders that chain later (``audit.buffered``): a bad entry is refused here, in the
    caller's hands, never later in a background flush where nobody could act on the error.
    """
    kwargs = dict(entry)
    at = kwargs.pop("at", None)
    return _validated(**kwargs), at, None if at is None else rfc3339(at)


def append_prepared(session: Session, prepared: Sequence[Prepared]) -> list[Head]:
    """Chain and insert entries from :func:`prepare` in the caller's transaction."""
    if not prepared:
        return []
    return [Head(seq, digest) for seq, _at, _prev, digest in _write(session, list(prepared))]


def _write(session: Session, prepared: list[Prepared]) -> list[tuple[int, datetime, str, str]]:
    """Chain, hash and insert ``prepared`` entries under the lock: (seq, at, prev, hash) each.

    Straight through the DBAPI cursor of the session's connection, so the per-row cost is a
    tuple, not an ORM object.
    """
    prev = head(session)
    sqlite = session.get_bind().dialect.name == "sqlite"
    rows, written = chain_rows(prev, prepared, sqlite=sqlite)
    connection = session.connection()
    statement = _INSERT_SQLITE if sqlite else _INSERT_PG
    if len(rows) == 1:
        connection.exec_driver_sql(statement, rows[0])
    else:
        connection.exec_driver_sql(statement, rows)
    last = written[-1]
    session.info[_HEAD_KEY] = (_innermost(session), last[0], last[3])
    return written


def chain_rows(
    prev: Head, prepared: Sequence[Prepared], *, sqlite: bool
) -> tuple[list[tuple[Any, ...]], list[tuple[int, datetime, str, str]]]:
    """The INSERT rows of ``prepared`` chained after ``prev``, and (seq, at, prev, hash) each.

    Pure: the caller holds the chain lock and read ``prev`` under it. Values are what the
    column types would have written: SQLAlchemy's SQLite DATETIME text, or an aware datetime
    for timestamptz; JSON as canonical text (also what the hash covers).
    """
    now = utcnow()
    now_text = rfc3339(now)
    rows: list[tuple[Any, ...]] = []
    written: list[tuple[int, datetime, str, str]] = []
    seq, prev_hash = prev.seq, prev.entry_hash
    for fields, at, at_text in prepared:
        seq += 1
        text_at = now_text if at_text is None else at_text
        values = [
            seq,
            text_at,
            fields["direction"],
            fields["counterpart"],
            fields["actor_subject"],
            fields["actor_role"],
            fields["purpose"],
            fields["operation"],
            fields["object_refs"],
            fields["record_count"],
            fields["payload_sha256"],
            fields["result"],
            fields["correlation_id"],
            prev_hash,
        ]
        refs_text = refs_json(values[8])
        digest = entry_hash_of(values, refs_text)
        when = now if at is None else at
        values[1] = f"{text_at[:10]} {text_at[11:26]}" if sqlite else when
        values[8] = refs_text
        values.append(digest)
        rows.append(tuple(values))
        written.append((seq, when, prev_hash, digest))
        prev_hash = digest
    return rows, written


def _validated(
    *,
    direction: Direction | str,
    counterpart: str,
    actor_subject: str,
    actor_role: str | None = None,
    purpose: str | None = None,
    operation: str,
    object_refs: Mapping[str, Any] | None = None,
    record_count: int = 0,
    payload_sha256: str | None = None,
    result: str = "ok",
    correlation_id: str | None = None,
) -> dict[str, Any]:
    """The entry's own fields, checked so that what is stored is exactly what was hashed."""
    if payload_sha256 is not None and not _is_hex64(payload_sha256):
        raise ValueError("payload_sha256 must be 64 lowercase hex digits")
    if isinstance(record_count, bool) or not isinstance(record_count, int):
        raise TypeError("record_count must be an int")
    if not 0 <= record_count <= 2**31 - 1:
        raise ValueError("record_count out of range")
    refs = {} if object_refs is None else object_refs
    if not isinstance(refs, Mapping):
        raise TypeError("object_refs must be a mapping")
    return {
        "direction": (direction if type(direction) is Direction else Direction(direction)).value,
        "counterpart": _text("counterpart", counterpart),
        "actor_subject": _text("actor_subject", actor_subject),
        "actor_role": _text("actor_role", actor_role),
        "purpose": _text("purpose", purpose),
        "operation": _text("operation", operation),
        "object_refs": plain_json(refs),
        "record_count": record_count,
        "payload_sha256": _text("payload_sha256", payload_sha256),
        "result": _text("result", result),
        "correlation_id": _text("correlation_id", correlation_id),
    }


def _is_hex64(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)
