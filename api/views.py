"""The shapes the serving layers return: one set of models, rendered as JSON by REST and
converted field by field into protobuf by gRPC, so both show a record identically.

Identifier fields hold whatever the request's :class:`~api.redaction.Redactor` produced —
masked unless the caller revealed them with a purpose.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Gender = Literal["M", "F", "U"]
PersonStatusName = Literal["active", "moved_out", "deceased", "merged"]
SeverityName = Literal["info", "low", "medium", "high", "emergency"]
TaskStateName = Literal["pending", "accepted", "rejected", "in_progress", "completed", "closed"]


def plain(value: object) -> Any:
    """A stored enum as its value: rows come back as enum members or plain strings."""
    return str(getattr(value, "value", value))


class View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PersonSummary(View):
    uid: str = Field(description="Opaque person id (ULID).")
    name: str | None
    resident_id: str | None
    phone: str | None
    address: str | None = Field(description="Residential address.")
    gender: Gender
    birth_year: int | None
    grid_code: str | None
    status: PersonStatusName


class PersonPage(View):
    items: list[PersonSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
    masked: bool


class FieldLineage(View):
    field: str = Field(description="Golden field, e.g. `phone`.")
    source: str | None
    stream: str | None
    source_key: str | None = Field(description="Masked like identifiers unless revealed.")
    version: int | None
    rule: str | None = Field(description="Survivorship rule that chose this source.")
    chosen_at: datetime


class SourceSummary(View):
    source: str
    stream: str
    records: int
    last_updated_at: datetime | None


class HouseholdMemberView(View):
    person_uid: str
    name: str | None
    relation: str | None


class HouseholdView(View):
    household_no: str | None
    address: str | None
    relation: str | None = Field(description="This person's relation to the head.")
    members: list[HouseholdMemberView]
    hidden_members: int = Field(description="Members outside the caller's grid units.")


class EventView(View):
    uid: str
    type: str
    severity: SeverityName
    occurred_at: datetime
    grid_code: str | None
    source: str
    source_ref: str | None
    person_uid: str | None
    report_count: int
    created_at: datetime
    payload: dict[str, Any] | None = Field(
        default=None, description="Only with revealed identifiers: payloads hold free text."
    )


class EventPage(View):
    items: list[EventView]
    next_cursor: str | None
    masked: bool


class TaskBrief(View):
    uid: str
    category: str
    title: str
    state: TaskStateName
    priority: str
    sla_deadline: datetime | None
    assignee: str | None


class PersonRecord(View):
    """The unified record: golden fields, where each came from, and what surrounds them."""

    uid: str
    name: str | None
    name_pinyin: str | None
    resident_id: str | None
    gender: Gender
    birth_date: str | None = Field(description="`YYYY-MM-DD` when revealed, `YYYY` when masked.")
    phone: str | None
    residential_address: str | None
    registered_address: str | None
    grid_code: str | None
    status: PersonStatusName
    tags: list[str]
    flags: list[str]
    conflicting_fields: list[str] = Field(description="Fields whose sources disagree.")
    lineage: list[FieldLineage]
    household: HouseholdView | None
    sources: list[SourceSummary]
    recent_events: list[EventView]
    open_tasks: list[TaskBrief]
    merged_into_uid: str | None
    masked: bool
    updated_at: datetime


class TaskTransitionView(View):
    from_state: TaskStateName | None
    to_state: TaskStateName
    action: str
    actor: str
    actor_role: str | None
    reason: str | None
    at: datetime


class TaskView(View):
    uid: str
    category: str
    title: str
    priority: str
    state: TaskStateName
    sla_deadline: datetime | None
    grid_code: str | None
    assignee: str | None
    assignee_kind: str
    person_uid: str | None
    event_uid: str | None
    requester_source: str | None
    requester_ref: str | None
    rating: int | None
    escalation_level: int
    version: int = Field(description="Send back as `expected_version` to transition safely.")
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    allowed_actions: list[str]
    history: list[TaskTransitionView]
    photos: list[str] = Field(default_factory=list, description="sha256 of feedback photos.")


class TaskPage(View):
    items: list[TaskView]
    next_cursor: str | None


class Figures(View):
    created: int
    responded: int
    completed: int
    resolved: int
    on_time: int
    with_deadline: int
    closed: int
    rated: int
    rating_sum: int
    satisfied: int
    good: int
    accepts: int
    rejects: int
    response_rate: float | None
    acceptance_rate: float | None
    resolution_rate: float | None
    on_time_rate: float | None
    satisfaction_rate: float | None
    good_rating_rate: float | None
    average_rating: float | None


class StatsView(View):
    start: datetime
    end: datetime
    group_by: str
    groups: dict[str, Figures]


class AccessEntry(View):
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


class AccessPage(View):
    items: list[AccessEntry]
    next_cursor: str | None


class Status(View):
    status: Literal["ok", "unavailable"]


__all__ = [
    "AccessEntry",
    "AccessPage",
    "EventPage",
    "EventView",
    "FieldLineage",
    "Figures",
    "HouseholdMemberView",
    "HouseholdView",
    "PersonPage",
    "PersonRecord",
    "PersonSummary",
    "SourceSummary",
    "StatsView",
    "Status",
    "TaskBrief",
    "TaskPage",
    "TaskTransitionView",
    "TaskView",
    "plain",
]
