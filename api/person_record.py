"""The unified person record: golden fields with lineage, household, sources, events, tasks.

The rows come from :mod:`api.person_rows` — one round trip on PostgreSQL, five narrow Core
queries on SQLite — and are shaped into views here, the same way for both. The scope check
runs before anything but the person row is used (on PostgreSQL the rest is not even read
outside the caller's scope), and the read is logged with every person uid it shows (the
household members too).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from api.errors import InvalidRequest, NotFound
from api.held import held
from api.person_rows import (
    EVENT_COLUMNS,
    PersonRows,
    fetch_one_trip,
    fetch_person,
    fetch_rest,
)
from api.policy import Access, Policy
from api.redaction import PERSON_FIELDS, Redactor
from api.views import (
    EventView,
    FieldLineage,
    HouseholdMemberView,
    HouseholdView,
    PersonRecord,
    SourceSummary,
    TaskBrief,
    plain,
)

ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


def check_uid(uid: str) -> str:
    if not ULID.fullmatch(uid):
        raise InvalidRequest("uid must be a 26-character ULID", code="invalid_uid")
    return uid


def read_person(
    session: Session, policy: Policy, access: Access, uid: str, *, one_trip: bool = True
) -> PersonRecord:
    """The record of ``uid`` as this caller may see it; the read is logged, not committed.

    ``one_trip=False`` forces the narrow queries on PostgreSQL too (tests compare the two).
    """
    check_uid(uid)
    fast = one_trip and session.get_bind().dialect.name == "postgresql"
    conn: Connection | None = None
    if fast and not session.in_transaction() and not policy.writes_reads_inline:
        # One statement that writes nothing: its own snapshot is the whole read, so it runs
        # on a held autocommit connection — no BEGIN and COMMIT round trips around it, and
        # no session transaction or pool checkout (api.held).
        rows = _fetch_held(session, access, uid)
    else:
        conn = session.connection()
        rows = fetch_one_trip(conn, access.principal, uid) if fast else fetch_person(conn, uid)
    if rows is None:
        raise NotFound("no such person")
    row = rows.person
    refs = {"persons": [uid]}
    policy.ensure_visible(session, access, row[8], operation="person.get", refs=refs)
    if rows.household is None:  # not fetched yet (SQLite), or SQL's scope disagreed
        if conn is None:
            with held(_engine(session)).connection() as autocommit:
                fetch_rest(autocommit, rows)
        else:
            fetch_rest(conn, rows)
    return _record(session, policy, access, uid, rows)


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _fetch_held(session: Session, access: Access, uid: str) -> PersonRows | None:
    """:func:`fetch_one_trip` on a held autocommit connection. If the server dropped it (a
    restart; the pool does not ping) the pool was started afresh: the statement wrote
    nothing and nothing was logged yet, so it is asked once more on a new connection
    instead of answering 503 once per server process after every database restart."""
    connections = held(_engine(session))
    try:
        with connections.connection() as conn:
            return fetch_one_trip(conn, access.principal, uid)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    with connections.connection() as conn:
        return fetch_one_trip(conn, access.principal, uid)


def _record(
    session: Session, policy: Policy, access: Access, uid: str, rows: PersonRows
) -> PersonRecord:
    """The view of fetched rows, logged; the caller has checked the scope."""
    row = rows.person
    r = access.redactor
    household, member_uids = _household(policy, access, row[0], rows.household or [])
    lineage, sources = _lineage_and_sources(r, rows.lineage_and_sources or [])
    record = PersonRecord(
        uid=uid,
        name=r.name(row[2]),
        name_pinyin=row[3] if r.clear else None,
        resident_id=r.resident_id(row[4]),
        gender=plain(row[5]),
        birth_date=r.birth_date(row[6]),
        phone=r.phone(row[7]),
        residential_address=r.address(row[14]),
        registered_address=r.address(row[15]),
        grid_code=row[8],
        status=plain(row[12]),
        tags=list(row[9] or []),
        flags=list(row[10] or []),
        conflicting_fields=sorted((row[11] or {}).keys()),
        lineage=lineage,
        household=household,
        sources=sources,
        recent_events=[event_view(e, r, uid) for e in rows.events or []],
        open_tasks=[_task(t) for t in rows.tasks or []],
        merged_into_uid=row[16],
        masked=not r.clear,
        updated_at=row[13],
    )
    policy.record_read(
        session,
        access,
        operation="person.get",
        persons=[uid, *member_uids],
        fields=PERSON_FIELDS,
        count=1,
    )
    return record


def _lineage_and_sources(
    r: Redactor, rows: Sequence[Sequence[Any]]
) -> tuple[list[FieldLineage], list[SourceSummary]]:
    fields = [
        FieldLineage(
            field=f,
            source=source,
            stream=stream,
            source_key=r.key(key),
            version=version,
            rule=rule,
            chosen_at=when,
        )
        for kind, f, source, stream, key, version, rule, when in rows
        if kind == 0
    ]
    sources = [
        SourceSummary(source=source, stream=stream, records=int(n), last_updated_at=when)
        for kind, _, source, stream, _, n, _, when in rows
        if kind == 1
    ]
    return fields, sources


def _household(
    policy: Policy, access: Access, person_id: int, rows: Sequence[Sequence[Any]]
) -> tuple[HouseholdView | None, list[str]]:
    if not rows:
        return None, []
    own = rows[0]
    others = [row for row in rows if row[0] == own[0] and row[4] != person_id]
    r = access.redactor
    shown = [row for row in others if policy.visible(access.principal, row[7])]
    members = [
        HouseholdMemberView(person_uid=row[5], name=r.name(row[6]), relation=row[8])
        for row in shown
    ]
    view = HouseholdView(
        household_no=r.key(own[2]),
        address=r.address(own[3]),
        relation=own[1],
        members=members,
        hidden_members=len(others) - len(shown),
    )
    return view, [m.person_uid for m in members]


def _task(row: Sequence[Any]) -> TaskBrief:
    u, c, t, s, p, d, a = row
    return TaskBrief(
        uid=u, category=c, title=t, state=plain(s), priority=p, sla_deadline=d, assignee=a
    )


def event_view(row: Sequence[Any], r: Redactor, person_uid: str | None) -> EventView:
    """``row``: uid, type, severity, occurred_at, grid_code, source, source_ref,
    report_count, created_at, payload (the order of :data:`EVENT_COLUMNS`)."""
    return EventView(
        uid=row[0],
        type=row[1],
        severity=plain(row[2]),
        occurred_at=row[3],
        grid_code=row[4],
        source=row[5],
        source_ref=row[6],
        person_uid=person_uid,
        report_count=row[7],
        created_at=row[8],
        payload=dict(row[9] or {}) if r.clear else None,
    )


__all__ = ["EVENT_COLUMNS", "ULID", "check_uid", "event_view", "read_person"]
