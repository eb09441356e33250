"""``api.views`` models to protobuf messages and back, field by field.

Kept mechanical on purpose: the views decide what a caller may see (masking included), this
module only changes the encoding, so gRPC can never show more than REST.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import json_format
from google.protobuf.duration_pb2 import Duration
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from api.views import (
    EventView,
    PersonPage,
    PersonRecord,
    PersonSummary,
    TaskBrief,
    TaskView,
)
from grpc_api.gen.gridhub.v1 import common_pb2, person_pb2, task_pb2

GENDERS = {
    "M": person_pb2.GENDER_MALE,
    "F": person_pb2.GENDER_FEMALE,
    "U": person_pb2.GENDER_UNKNOWN,
}
PERSON_STATUSES = {
    "active": person_pb2.PERSON_STATUS_ACTIVE,
    "moved_out": person_pb2.PERSON_STATUS_MOVED_OUT,
    "deceased": person_pb2.PERSON_STATUS_DECEASED,
    "merged": person_pb2.PERSON_STATUS_MERGED,
}
SEVERITIES = {
    "info": common_pb2.SEVERITY_INFO,
    "low": common_pb2.SEVERITY_LOW,
    "medium": common_pb2.SEVERITY_MEDIUM,
    "high": common_pb2.SEVERITY_HIGH,
    "emergency": common_pb2.SEVERITY_EMERGENCY,
}
SEVERITY_NAMES = {number: name for name, number in SEVERITIES.items()}
TASK_STATES = {
    "pending": common_pb2.TASK_STATE_PENDING,
    "accepted": common_pb2.TASK_STATE_ACCEPTED,
    "rejected": common_pb2.TASK_STATE_REJECTED,
    "in_progress": common_pb2.TASK_STATE_IN_PROGRESS,
    "completed": common_pb2.TASK_STATE_COMPLETED,
    "closed": common_pb2.TASK_STATE_CLOSED,
}
TASK_STATE_NAMES = {number: name for name, number in TASK_STATES.items()}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(value: datetime | None) -> Timestamp | None:
    """Seconds and nanos straight from the difference to the epoch: ``FromDatetime`` does the
    same in Python with a time-zone conversion and calendar arithmetic, several times slower,
    and a person carries a dozen timestamps. The views hold aware times; a naive one is UTC."""
    if value is None:
        return None
    delta = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)) - _EPOCH
    return Timestamp(seconds=delta.days * 86_400 + delta.seconds, nanos=delta.microseconds * 1000)


def from_timestamp(stamp: Timestamp) -> datetime:
    value: datetime = stamp.ToDatetime(tzinfo=UTC)
    return value


def from_duration(duration: Duration) -> timedelta:
    value: timedelta = duration.ToTimedelta()
    return value


def from_struct(value: Struct) -> dict[str, Any]:
    result: dict[str, Any] = json_format.MessageToDict(value)
    return result


def person_summary(p: PersonSummary) -> person_pb2.PersonSummary:
    return person_pb2.PersonSummary(
        uid=p.uid,
        name=p.name or "",
        resident_id=p.resident_id or "",
        phone=p.phone or "",
        address=p.address or "",
        gender=GENDERS[p.gender],
        birth_year=p.birth_year or 0,
        grid_code=p.grid_code or "",
        status=PERSON_STATUSES[p.status],
    )


def person_page(page: PersonPage) -> person_pb2.SearchPersonsResponse:
    return person_pb2.SearchPersonsResponse(
        persons=[person_summary(p) for p in page.items],
        next_page_token=page.next_cursor or "",
        masked=page.masked,
    )


def event(e: EventView) -> common_pb2.Event:
    return common_pb2.Event(
        uid=e.uid,
        type=e.type,
        severity=SEVERITIES[e.severity],
        occurred_at=timestamp(e.occurred_at),
        grid_code=e.grid_code or "",
        source=e.source,
        source_ref=e.source_ref or "",
        person_uid=e.person_uid or "",
        report_count=e.report_count,
        created_at=timestamp(e.created_at),
    )


def task_brief(t: TaskBrief) -> person_pb2.TaskBrief:
    return person_pb2.TaskBrief(
        uid=t.uid,
        category=t.category,
        title=t.title,
        state=TASK_STATES[t.state],
        priority=t.priority,
        sla_deadline=timestamp(t.sla_deadline),
        assignee=t.assignee or "",
    )


def person(r: PersonRecord) -> person_pb2.Person:
    household = None
    if r.household is not None:
        h = r.household
        household = person_pb2.Household(
            household_no=h.household_no or "",
            address=h.address or "",
            relation=h.relation or "",
            members=[
                person_pb2.HouseholdMember(
                    person_uid=m.person_uid, name=m.name or "", relation=m.relation or ""
                )
                for m in h.members
            ],
            hidden_members=h.hidden_members,
        )
    return person_pb2.Person(
        uid=r.uid,
        name=r.name or "",
        name_pinyin=r.name_pinyin or "",
        resident_id=r.resident_id or "",
        gender=GENDERS[r.gender],
        birth_date=r.birth_date or "",
        phone=r.phone or "",
        residential_address=r.residential_address or "",
        registered_address=r.registered_address or "",
        grid_code=r.grid_code or "",
        status=PERSON_STATUSES[r.status],
        tags=r.tags,
        flags=r.flags,
        conflicting_fields=r.conflicting_fields,
        lineage=[
            person_pb2.FieldLineage(
                field=item.field,
                source=item.source or "",
                stream=item.stream or "",
                source_key=item.source_key or "",
                version=item.version or 0,
                rule=item.rule or "",
                chosen_at=timestamp(item.chosen_at),
            )
            for item in r.lineage
        ],
        household=household,
        sources=[
            person_pb2.SourceSummary(
                source=s.source,
                stream=s.stream,
                records=s.records,
                last_updated_at=timestamp(s.last_updated_at),
            )
            for s in r.sources
        ],
        recent_events=[event(e) for e in r.recent_events],
        open_tasks=[task_brief(t) for t in r.open_tasks],
        merged_into_uid=r.merged_into_uid or "",
        masked=r.masked,
        updated_at=timestamp(r.updated_at),
    )


def task(t: TaskView) -> task_pb2.Task:
    return task_pb2.Task(
        uid=t.uid,
        category=t.category,
        title=t.title,
        priority=t.priority,
        state=TASK_STATES[t.state],
        sla_deadline=timestamp(t.sla_deadline),
        grid_code=t.grid_code or "",
        assignee=t.assignee or "",
        assignee_kind=t.assignee_kind,
        person_uid=t.person_uid or "",
        event_uid=t.event_uid or "",
        requester_source=t.requester_source or "",
        requester_ref=t.requester_ref or "",
        rating=t.rating or 0,
        escalation_level=t.escalation_level,
        version=t.version,
        created_at=timestamp(t.created_at),
        updated_at=timestamp(t.updated_at),
        closed_at=timestamp(t.closed_at),
        allowed_actions=t.allowed_actions,
        history=[
            task_pb2.TaskTransition(
                from_state=TASK_STATES[h.from_state] if h.from_state else None,
                to_state=TASK_STATES[h.to_state],
                action=h.action,
                actor=h.actor,
                actor_role=h.actor_role or "",
                reason=h.reason or "",
                at=timestamp(h.at),
            )
            for h in t.history
        ],
    )


__all__ = [
    "SEVERITY_NAMES",
    "TASK_STATE_NAMES",
    "event",
    "from_duration",
    "from_struct",
    "from_timestamp",
    "person",
    "person_page",
    "task",
]
