"""Shared test helpers: filling the log, and tampering with it as a database superuser would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session, sessionmaker

from audit import append
from audit.canonical import FIELDS, entry_hash

T0 = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
PERSON_A = "01JPERSONAAAAAAAAAAAAAAAAA"
PERSON_B = "01JPERSONBBBBBBBBBBBBBBBBB"


def entry_kwargs(i: int) -> dict[str, Any]:
    """A varied but deterministic entry; every 3rd touches person A, every 5th person B."""
    persons = [p for p, every in ((PERSON_A, 3), (PERSON_B, 5)) if i % every == 0]
    return {
        "direction": ("read", "inbound", "outbound", "admin")[i % 4],
        "counterpart": ("api", "hukou", "hotline", "civil_affairs")[i % 4],
        "actor_subject": f"worker-{i % 7}",
        "actor_role": "grid_worker" if i % 2 else None,
        "purpose": "service" if i % 3 else "inspection",
        "operation": "person.get" if i % 4 == 0 else "sync.batch",
        "object_refs": {"persons": persons, "tasks": [f"T{i}"]} if persons else {},
        "record_count": i % 11,
        "correlation_id": f"req-{i}",
        "at": T0 + timedelta(minutes=i),
    }


def fill(sessions: sessionmaker[Session], n: int, start: int = 1) -> None:
    """Append ``n`` entries, one committed transaction each tenth, times one minute apart."""
    for chunk in range(start, start + n, 10):
        with sessions() as s, s.begin():
            for i in range(chunk, min(chunk + 10, start + n)):
                append(s, **entry_kwargs(i))


@contextmanager
def superuser(engine: Engine) -> Iterator[Connection]:
    """A connection with the append-only triggers out of the way, as an attacker with DB rights.

    SQLite: the triggers are dropped (the file's owner can do anything). PostgreSQL: disabled
    with ALTER TABLE … DISABLE TRIGGER USER, then re-enabled.
    """
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for name in (
                "exchange_log_no_update",
                "exchange_log_no_delete",
                "audit_checkpoint_no_update",
                "audit_checkpoint_no_delete",
            ):
                conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        else:
            conn.execute(text("ALTER TABLE exchange_log DISABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_checkpoint DISABLE TRIGGER USER"))
        yield conn
        if engine.dialect.name != "sqlite":
            conn.execute(text("ALTER TABLE exchange_log ENABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_checkpoint ENABLE TRIGGER USER"))


def shift(conn: Connection, from_seq: int, delta: int) -> None:
    """Renumber entries ``seq >= from_seq`` by ``delta`` (two steps: seq is a primary key)."""
    conn.execute(
        text("UPDATE exchange_log SET seq = -seq - :d WHERE seq >= :s"), {"d": delta, "s": from_seq}
    )
    conn.execute(text("UPDATE exchange_log SET seq = -seq WHERE seq < 0"))


def row(conn: Connection, seq: int) -> dict[str, Any]:
    """The stored entry at ``seq`` as the hash sees it (``at`` canonical)."""
    from audit.records import iter_entries

    with Session(bind=conn) as s:
        (found,) = list(iter_entries(s, seq, seq))  # exhausted: no cursor left open
        return found


def rehash(fields: dict[str, Any]) -> str:
    return entry_hash({k: fields[k] for k in FIELDS})
