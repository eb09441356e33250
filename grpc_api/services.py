"""PersonService, EventService and TaskService: thin adapters over the shared ``api`` code.

Each call runs in one transaction; the response is built from the views only after the
transaction has committed and the read's exchange-log entry is queued (``audit.buffered``),
so nothing leaves unlogged. ``GetPerson`` on PostgreSQL is one autocommit statement instead
(:mod:`grpc_api.person_read`, :mod:`grpc_api.person_sql`), its entry likewise queued before
the message is built.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TypeVar

from api.context import Hub
from api.errors import InvalidRequest, Unauthenticated
from api.events import EventFeed, EventReport, encode_resume, publish
from api.person_record import read_person
from api.person_search import SearchField, search_persons
from api.task_intake import DEFAULT_SLA, TaskRequest, create_task
from api.tasks import TaskAction, TaskListView, Transition, get_task, list_tasks, transition
from canonical_model import TaskState
from grpc_api import convert
from grpc_api.gen.gridhub.v1 import event_pb2, person_pb2, task_pb2
from grpc_api.handlers import Call
from grpc_api.person_read import PersonReader

T = TypeVar("T")
_FIELDS: dict[int, SearchField] = {
    person_pb2.SEARCH_FIELD_UNSPECIFIED: SearchField.AUTO,
    person_pb2.SEARCH_FIELD_NAME: SearchField.NAME,
    person_pb2.SEARCH_FIELD_PINYIN: SearchField.PINYIN,
    person_pb2.SEARCH_FIELD_RESIDENT_ID: SearchField.RESIDENT_ID,
    person_pb2.SEARCH_FIELD_PHONE: SearchField.PHONE,
    person_pb2.SEARCH_FIELD_ADDRESS: SearchField.ADDRESS,
}
_INTAKE: dict[str, event_pb2.IntakeStatus] = {
    "new": event_pb2.INTAKE_STATUS_NEW,
    "joined": event_pb2.INTAKE_STATUS_JOINED,
    "duplicate": event_pb2.INTAKE_STATUS_DUPLICATE,
}
_ACTIONS: dict[int, TaskAction] = {
    task_pb2.TASK_ACTION_ACCEPT: TaskAction.ACCEPT,
    task_pb2.TASK_ACTION_REJECT: TaskAction.REJECT,
    task_pb2.TASK_ACTION_START: TaskAction.START,
    task_pb2.TASK_ACTION_COMPLETE: TaskAction.COMPLETE,
    task_pb2.TASK_ACTION_CLOSE: TaskAction.CLOSE,
    task_pb2.TASK_ACTION_ESCALATE: TaskAction.ESCALATE,
    task_pb2.TASK_ACTION_REASSIGN: TaskAction.REASSIGN,
}
_VIEWS: dict[int, TaskListView] = {
    task_pb2.TASK_VIEW_UNSPECIFIED: TaskListView.INBOX,
    task_pb2.TASK_VIEW_INBOX: TaskListView.INBOX,
    task_pb2.TASK_VIEW_GRIDS: TaskListView.GRIDS,
    task_pb2.TASK_VIEW_REQUESTED: TaskListView.REQUESTED,
}


def _page_size(value: int, default: int, maximum: int) -> int:
    if value < 0 or value > maximum:
        raise InvalidRequest(f"page_size must be 0 to {maximum}")
    return value or default


def _enum(table: Mapping[int, T], value: int, name: str) -> T:
    if value not in table:
        raise InvalidRequest(f"unknown {name}")
    return table[value]


class PersonService:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.reader = PersonReader(hub) if PersonReader.applies(hub) else None

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()

    def GetPerson(self, request: person_pb2.GetPersonRequest, call: Call) -> person_pb2.Person:
        """The fast reader on PostgreSQL (:mod:`grpc_api.person_read`); refusals and every
        other case here. No transaction is opened, as in REST's fast path: on PostgreSQL the
        read is one autocommit statement (no BEGIN and COMMIT round trips); with durable read
        logs ``read_person`` begins one and the commit below lands the entry with the read."""
        if self.reader is not None:
            message = self.reader.read(call, request.uid, request.reveal)
            if message is not None:
                return message
        with self.hub.sessions() as session:
            access = call.access(self.hub, session, reveal=request.reveal)
            record = read_person(session, self.hub.policy, access, request.uid)
            session.commit()
        return convert.person(record)

    def SearchPersons(
        self, request: person_pb2.SearchPersonsRequest, call: Call
    ) -> person_pb2.SearchPersonsResponse:
        field = _enum(_FIELDS, request.field, "search field")
        with self.hub.transaction() as session:
            access = call.access(self.hub, session, reveal=request.reveal)
            page = search_persons(
                session,
                self.hub.policy,
                access,
                request.query,
                field=field,
                limit=_page_size(request.page_size, 20, 100),
                cursor=request.page_token or None,
            )
        return convert.person_page(page)


class EventService:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def SubscribeEvents(
        self, request: event_pb2.SubscribeEventsRequest, call: Call
    ) -> Iterator[event_pb2.EventNotice]:
        """Poll the feed; yield only after each poll's transaction (and log entry) commits."""
        heartbeat = request.heartbeat_seconds or 15
        if not 1 <= heartbeat <= 300:
            raise InvalidRequest("heartbeat_seconds must be 0 to 300")
        config = self.hub.config
        with self.hub.transaction() as session:
            access = call.access(self.hub, session)
            feed = EventFeed.start(
                session,
                self.hub.policy,
                access,
                resume_token=request.resume_token,
                replay=request.replay,
                types=frozenset(request.types),
                gap_grace=config.event_gap_grace_seconds,
            )
        stopped = threading.Event()
        call.context.add_callback(stopped.set)
        last_sent = time.monotonic()
        expires = call.principal.expires_at
        while not stopped.is_set() and call.context.is_active():
            if expires is not None and datetime.now(UTC) >= expires:
                # a stream must not outlive the token that opened it
                raise Unauthenticated("the token expired; subscribe again with a fresh one")
            with self.hub.transaction() as session:
                batch = feed.poll(session)
            for position, view in batch:
                yield event_pb2.EventNotice(
                    event=convert.event(view), resume_token=encode_resume(position)
                )
            if batch:
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent >= heartbeat:
                yield event_pb2.EventNotice(resume_token=feed.resume_token)
                last_sent = time.monotonic()
            if not batch:
                stopped.wait(config.subscription_poll_seconds)

    def PublishEvent(
        self, request: event_pb2.PublishEventRequest, call: Call
    ) -> event_pb2.PublishEventResponse:
        if not request.HasField("occurred_at"):
            raise InvalidRequest("occurred_at is required")
        severity = convert.SEVERITY_NAMES.get(request.severity, "medium")
        report = EventReport(
            type=request.type,
            occurred_at=convert.from_timestamp(request.occurred_at),
            source_ref=request.source_ref,
            severity=severity,
            grid_code=request.grid_code or None,
            person_uid=request.person_uid or None,
            dedup_key=request.dedup_key or None,
            payload=convert.from_struct(request.payload) if request.HasField("payload") else {},
        )
        with self.hub.transaction() as session:
            access = call.access(self.hub, session)
            intake = publish(session, self.hub.policy, access, report)
        return event_pb2.PublishEventResponse(
            event_uid=intake.event_uid, status=_INTAKE[intake.status], task_uids=intake.task_uids
        )


class TaskService:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def CreateTask(
        self, request: task_pb2.CreateTaskRequest, call: Call
    ) -> task_pb2.CreateTaskResponse:
        sla = convert.from_duration(request.sla) if request.HasField("sla") else DEFAULT_SLA
        task_request = TaskRequest(
            category=request.category,
            title=request.title,
            grid_code=request.grid_code,
            requester_ref=request.requester_ref,
            person_uid=request.person_uid or None,
            priority=request.priority or "normal",
            sla=sla,
        )
        with self.hub.transaction() as session:
            access = call.access(self.hub, session)
            view, created = create_task(session, self.hub.policy, access, task_request)
        return task_pb2.CreateTaskResponse(task=convert.task(view), created=created)

    def GetTask(self, request: task_pb2.GetTaskRequest, call: Call) -> task_pb2.Task:
        with self.hub.transaction() as session:
            access = call.access(self.hub, session)
            view = get_task(session, self.hub.policy, access, request.uid)
        return convert.task(view)

    def ListTasks(
        self, request: task_pb2.ListTasksRequest, call: Call
    ) -> task_pb2.ListTasksResponse:
        view = _enum(_VIEWS, request.view, "task view")
        states = []
        for number in request.states:
            if number not in convert.TASK_STATE_NAMES:
                raise InvalidRequest("unknown task state")
            states.append(TaskState(convert.TASK_STATE_NAMES[number]))
        with self.hub.transaction() as session:
            access = call.access(self.hub, session)
            page = list_tasks(
                session,
                self.hub.policy,
                access,
                view=view,
                states=states,
                limit=_page_size(request.page_size, 50, 200),
                cursor=request.page_token or None,
            )
        return task_pb2.ListTasksResponse(
            tasks=[convert.task(t) for t in page.items], next_page_token=page.next_cursor or ""
        )

    def TransitionTask(self, request: task_pb2.TransitionTaskRequest, call: Call) -> task_pb2.Task:
        action = _enum(_ACTIONS, request.action, "task action")
        if request.rating and not 1 <= request.rating <= 5:
            raise InvalidRequest("rating must be 1 to 5 stars")
        change = Transition(
            action=action,
            reason=request.reason or None,
            rating=request.rating or None,
            reassign_to=request.reassign_to or None,
            result=request.result or None,
            notes=request.notes or None,
            expected_version=request.expected_version or None,
        )
        with self.hub.transaction() as session:
            access = call.access(self.hub, session)
            view = transition(
                session, self.hub.policy, access, request.uid, change, photos=self.hub.photos
            )
        return convert.task(view)


__all__ = ["EventService", "PersonService", "TaskService"]
