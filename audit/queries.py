"""The auditor's questions: who touched this person's data, when and why; what did X do.

Plain functions over the live table, shared by the CLI and (later) the REST API. They return
:class:`Access` rows — who, when, which direction, counterpart, operation, purpose and result
— never payloads. Results are ordered by seq and paged by keyset (``after_seq``), which stays
fast and stable while the log keeps growing. Rotated entries live in archives; pass
``archive_dir`` to search those too (a sequential scan of the gzip files).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import ColumnElement, String, and_, exists, func, literal, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from audit.archive import iter_archived_entries
from audit.canonical import parse_rfc3339
from canonical_model import ExchangeLogEntry

PERSONS: Final = "persons"
"""The ``object_refs`` key listing person uids an exchange touched."""
DEFAULT_LIMIT: Final = 1000


@dataclass(frozen=True, slots=True)
class Access:
    seq: int
    at: datetime
    direction: str
    counterpart: str
    actor_subject: str
    actor_role: str | None
    purpose: str | None
    operation: str
    record_count: int
    result: str
    correlation_id: str | None

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["at"] = self.at.isoformat()
        return out


_E = ExchangeLogEntry
_COLUMNS: Final = (
    _E.seq,
    _E.at,
    _E.direction,
    _E.counterpart,
    _E.actor_subject,
    _E.actor_role,
    _E.purpose,
    _E.operation,
    _E.record_count,
    _E.result,
    _E.correlation_id,
)


def _refers_to(session: Session, key: str, uid: str) -> ColumnElement[bool]:
    """``object_refs[key]`` holds ``uid``: JSONB containment on PostgreSQL, json_each on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return sql_cast(_E.object_refs, JSONB).contains({key: [uid]})
    each = func.json_each(_E.object_refs, literal(f"$.{key}", String)).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == uid))


def _run(
    session: Session,
    where: Iterable[ColumnElement[bool]],
    since: datetime | None,
    until: datetime | None,
    after_seq: int | None,
    limit: int,
) -> list[Access]:
    conditions = list(where)
    if since is not None:
        conditions.append(_E.at >= since)
    if until is not None:
        conditions.append(_E.at < until)
    if after_seq is not None:
        conditions.append(_E.seq > after_seq)
    stmt = select(*_COLUMNS).where(and_(*conditions)).order_by(_E.seq).limit(limit)
    return [_access(row) for row in session.execute(stmt)]


def _access(row: Any) -> Access:
    values = list(row)
    values[2] = str(getattr(values[2], "value", values[2]))
    return Access(*values)


def _search(
    session: Session,
    where: ColumnElement[bool],
    match: Callable[[dict[str, Any]], bool],
    since: datetime | None,
    until: datetime | None,
    after_seq: int | None,
    limit: int,
    archive_dir: Path | None,
) -> list[Access]:
    """Archived entries first (they are older), then the live table, in one seq order."""
    found: list[Access] = []
    if archive_dir is not None:
        found = list(_archived(archive_dir, match, since, until, after_seq, limit))
        if found:
            after_seq = found[-1].seq
    if len(found) >= limit:
        return found[:limit]
    return found + _run(session, [where], since, until, after_seq, limit - len(found))


def who_accessed(
    session: Session,
    person_uid: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int | None = None,
    limit: int = DEFAULT_LIMIT,
    archive_dir: Path | None = None,
) -> list[Access]:
    """Every exchange that touched this person's data (by uid in ``object_refs.persons``)."""
    return _search(
        session,
        _refers_to(session, PERSONS, person_uid),
        lambda e: person_uid in (e["object_refs"].get(PERSONS) or []),
        since,
        until,
        after_seq,
        limit,
        archive_dir,
    )


def by_actor(
    session: Session,
    subject: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int | None = None,
    limit: int = DEFAULT_LIMIT,
    archive_dir: Path | None = None,
) -> list[Access]:
    """What one user or service account did (index ``ix_exchange_log_actor``)."""
    return _search(
        session,
        _E.actor_subject == subject,
        lambda e: e["actor_subject"] == subject,
        since,
        until,
        after_seq,
        limit,
        archive_dir,
    )


def by_counterpart(
    session: Session,
    counterpart: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int | None = None,
    limit: int = DEFAULT_LIMIT,
    archive_dir: Path | None = None,
) -> list[Access]:
    """Everything exchanged with one system, e.g. ``hukou`` (ix_exchange_log_counterpart)."""
    return _search(
        session,
        _E.counterpart == counterpart,
        lambda e: e["counterpart"] == counterpart,
        since,
        until,
        after_seq,
        limit,
        archive_dir,
    )


def in_window(
    session: Session,
    since: datetime,
    until: datetime,
    *,
    after_seq: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[Access]:
    """Every exchange in ``[since, until)``."""
    return _run(session, [], since, until, after_seq, limit)


def _archived(
    directory: Path,
    match: Callable[[dict[str, Any]], bool],
    since: datetime | None,
    until: datetime | None,
    after_seq: int | None,
    limit: int,
) -> Iterator[Access]:
    count = 0
    for entry in iter_archived_entries(directory):
        if after_seq is not None and entry["seq"] <= after_seq:
            continue
        at = parse_rfc3339(entry["at"])
        if (since is not None and at < since) or (until is not None and at >= until):
            continue
        if not isinstance(entry.get("object_refs"), dict) or not match(entry):
            continue
        yield Access(
            entry["seq"],
            at,
            entry["direction"],
            entry["counterpart"],
            entry["actor_subject"],
            entry["actor_role"],
            entry["purpose"],
            entry["operation"],
            entry["record_count"],
            entry["result"],
            entry["correlation_id"],
        )
        count += 1
        if count >= limit:
            return
