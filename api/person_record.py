"""The unified person record: golden fields with lineage, household, sources, events, tasks.

Read with a handful of narrow Core queries (no ORM identity map to fill), because this is the
hottest path of the API. The scope check runs before anything but the person row is read,
and the read is logged with every person uid it shows (the household members too).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BindParameter,
    Connection,
    Select,
    bindparam,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from api.errors import InvalidRequest, NotFound
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
from canonical_model import (
    Address,
    Event,
    Household,
    HouseholdMember,
    Person,
    PersonFieldLineage,
    SourceRecord,
    Task,
    TaskState,
)
from canonical_model.base import UTCDateTime

ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
RECENT_EVENTS = 10
OPEN_TASKS = 20
_OPEN = (TaskState.PENDING, TaskState.ACCEPTED, TaskState.IN_PROGRESS)
_Residential = aliased(Address)
_Registered = aliased(Address)
_Merged = aliased(Person)
_UTC = UTCDateTime()

_PERSON = (
    select(
        Person.id,
        Person.uid,
        Person.name,
        Person.name_pinyin,
        Person.resident_id,
        Person.gender,
        Person.birth_date,
        Person.phone,
        Person.grid_code,
        Person.tags,
        Person.flags,
        Person.conflicts,
        Person.status,
        Person.updated_at,
        _Residential.normalized,
        _Registered.normalized,
        _Merged.uid,
    )
    .outerjoin(_Residential, _Residential.id == Person.residential_address_id)
    .outerjoin(_Registered, _Registered.id == Person.registered_address_id)
    .outerjoin(_Merged, _Merged.id == Person.merged_into_id)
)
_PERSON_BY_UID = _PERSON.where(Person.uid == bindparam("uid"))


def check_uid(uid: str) -> str:
    if not ULID.fullmatch(uid):
        raise InvalidRequest("uid must be a 26-character ULID", code="invalid_uid")
    return uid


def read_person(session: Session, policy: Policy, access: Access, uid: str) -> PersonRecord:
    """The record of ``uid`` as this caller may see it; the read is logged, not committed.

    Five narrow queries (person, household, lineage with sources, events, tasks) on the
    session's connection directly: the ORM layer adds nothing to Core selects but CPU.
    """
    check_uid(uid)
    conn = session.connection()
    row = conn.execute(_PERSON_BY_UID, {"uid": uid}).first()
    if row is None:
        raise NotFound("no such person")
    refs = {"persons": [uid]}
    policy.ensure_visible(session, access, row[8], operation="person.get", refs=refs)
    person_id = row[0]
    r = access.redactor
    household, member_uids = _household(conn, policy, access, person_id)
    lineage, sources = _lineage_and_sources(conn, r, person_id)
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
        recent_events=recent_events(conn, r, person_id, uid),
        open_tasks=_open_tasks(conn, person_id),
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


def _lineage_and_sources_statement() -> Select[Any]:
    """Lineage rows (kind 0) and per-stream counts (kind 1), unioned into one round trip."""
    person: BindParameter[int] = bindparam("pid")
    lineage = (
        select(
            literal(0).label("kind"),
            PersonFieldLineage.field,
            SourceRecord.source,
            SourceRecord.stream,
            SourceRecord.source_key,
            SourceRecord.version,
            PersonFieldLineage.rule,
            PersonFieldLineage.chosen_at.label("at"),
        )
        .outerjoin(SourceRecord, SourceRecord.id == PersonFieldLineage.source_record_id)
        .where(PersonFieldLineage.person_id == person)
    )
    counts = (
        select(
            literal(1),
            null(),
            SourceRecord.source,
            SourceRecord.stream,
            null(),
            func.count(),
            null(),
            func.max(SourceRecord.updated_at),
        )
        .where(SourceRecord.person_id == person)
        .group_by(SourceRecord.source, SourceRecord.stream)
    )
    both = union_all(lineage, counts).subquery()
    return select(both).order_by(both.c.kind, both.c.field, both.c.source, both.c.stream)


# Built once: a statement object memoises its cache key, so reuse costs no SQL compilation.
_LINEAGE_AND_SOURCES = _lineage_and_sources_statement()


def _lineage_and_sources(
    conn: Connection, r: Redactor, person_id: int
) -> tuple[list[FieldLineage], list[SourceSummary]]:
    rows = conn.execute(_LINEAGE_AND_SOURCES, {"pid": person_id}).all()
    at = _UTC.process_result_value  # the union loses the column type: restore aware times
    dialect = conn.dialect
    fields = [
        FieldLineage(
            field=f,
            source=source,
            stream=stream,
            source_key=r.key(key),
            version=version,
            rule=rule,
            chosen_at=at(when, dialect),
        )
        for kind, f, source, stream, key, version, rule, when in rows
        if kind == 0
    ]
    sources = [
        SourceSummary(
            source=source, stream=stream, records=int(n), last_updated_at=at(when, dialect)
        )
        for kind, _, source, stream, _, n, _, when in rows
        if kind == 1
    ]
    return fields, sources


_Mine = aliased(HouseholdMember)
_Member = aliased(HouseholdMember)
_HOUSEHOLD = (
    select(
        _Mine.household_id,
        _Mine.relation,
        Household.household_no,
        Address.normalized,
        _Member.person_id,
        Person.uid,
        Person.name,
        Person.grid_code,
        _Member.relation,
    )
    .join(Household, Household.id == _Mine.household_id)
    .outerjoin(Address, Address.id == Household.address_id)
    .join(_Member, _Member.household_id == _Mine.household_id)
    .join(Person, Person.id == _Member.person_id)
    .where(_Mine.person_id == bindparam("pid"))
    .order_by(_Mine.household_id, Person.uid)
)


def _household(
    conn: Connection, policy: Policy, access: Access, person_id: int
) -> tuple[HouseholdView | None, list[str]]:
    rows = conn.execute(_HOUSEHOLD, {"pid": person_id}).all()
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


EVENT_COLUMNS = (
    Event.uid,
    Event.type,
    Event.severity,
    Event.occurred_at,
    Event.grid_code,
    Event.source,
    Event.source_ref,
    Event.report_count,
    Event.created_at,
    Event.payload,
)
_RECENT_EVENTS = (
    select(*EVENT_COLUMNS)
    .where(Event.person_id == bindparam("pid"))
    .order_by(Event.occurred_at.desc(), Event.id.desc())
    .limit(RECENT_EVENTS)
)


def recent_events(conn: Connection, r: Redactor, person_id: int, uid: str) -> list[EventView]:
    rows = conn.execute(_RECENT_EVENTS, {"pid": person_id})
    return [event_view(row, r, uid) for row in rows]


_OPEN_TASKS = (
    select(
        Task.uid,
        Task.category,
        Task.title,
        Task.state,
        Task.priority,
        Task.sla_deadline,
        Task.assignee,
    )
    .where(Task.person_id == bindparam("pid"), Task.state.in_(_OPEN))
    .order_by(Task.sla_deadline, Task.id)
    .limit(OPEN_TASKS)
)


def _open_tasks(conn: Connection, person_id: int) -> list[TaskBrief]:
    rows = conn.execute(_OPEN_TASKS, {"pid": person_id})
    return [
        TaskBrief(
            uid=u,
            category=c,
            title=t,
            state=plain(s),
            priority=p,
            sla_deadline=d,
            assignee=a,
        )
        for u, c, t, s, p, d, a in rows
    ]


__all__ = ["EVENT_COLUMNS", "ULID", "check_uid", "event_view", "read_person", "recent_events"]
