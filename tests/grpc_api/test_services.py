"""PersonService and TaskService: the REST policy, over gRPC, with gRPC status codes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import grpc
from api import Hub
from canonical_model import ExchangeLogEntry
from grpc_api.gen.gridhub.v1 import (
    common_pb2,
    person_pb2,
    person_pb2_grpc,
    task_pb2,
    task_pb2_grpc,
)
from identity import KeyRing
from tests.api.district import G1, G2, P1_ID, P1_PHONE, Seeded, Tokens, grpc_auth
from tests.identity.helpers import claims, forge, sign_with_ring


def code_of(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


def last_entry(hub: Hub) -> ExchangeLogEntry:
    hub.flush_reads()  # read entries are group-committed: land them first
    with hub.sessions() as s:
        entry = s.scalars(select(ExchangeLogEntry).order_by(ExchangeLogEntry.seq.desc())).first()
        assert entry is not None
        return entry


def test_get_person_masked_revealed_and_refused(
    channel: grpc.Channel, tokens: Tokens, seeded: Seeded, sessions: sessionmaker[Session], hub: Hub
) -> None:
    stub = person_pb2_grpc.PersonServiceStub(channel)
    masked = stub.GetPerson(
        person_pb2.GetPersonRequest(uid=seeded.p1), metadata=grpc_auth(tokens.w1)
    )
    assert masked.masked
    assert masked.name == "张*"
    assert masked.phone == "138****5678"
    assert masked.gender == person_pb2.GENDER_MALE
    assert masked.birth_date == "1950"
    assert [m.person_uid for m in masked.household.members] == [seeded.p2]
    assert masked.household.hidden_members == 1
    assert masked.open_tasks[0].state == common_pb2.TASK_STATE_PENDING
    revealed = stub.GetPerson(
        person_pb2.GetPersonRequest(uid=seeded.p1, reveal=True),
        metadata=grpc_auth(tokens.w1, "welfare_visit"),
    )
    assert (revealed.resident_id, revealed.phone, revealed.masked) == (P1_ID, P1_PHONE, False)
    entry = last_entry(hub)
    assert (entry.counterpart, entry.operation, entry.purpose) == (
        "grpc",
        "person.get",
        "welfare_visit",
    )
    code, detail = code_of(
        lambda: stub.GetPerson(
            person_pb2.GetPersonRequest(uid=seeded.p1, reveal=True), metadata=grpc_auth(tokens.w1)
        )
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert "purpose" in detail
    code, _ = code_of(
        lambda: stub.GetPerson(
            person_pb2.GetPersonRequest(uid=seeded.p3), metadata=grpc_auth(tokens.w1)
        )
    )
    assert code is grpc.StatusCode.PERMISSION_DENIED
    entry = last_entry(hub)
    assert (entry.actor_subject, entry.result, entry.object_refs["persons"]) == (
        "W1",
        "denied",
        [seeded.p3],
    )
    code, _ = code_of(
        lambda: stub.GetPerson(
            person_pb2.GetPersonRequest(uid="0" * 26), metadata=grpc_auth(tokens.w1)
        )
    )
    assert code is grpc.StatusCode.NOT_FOUND
    code, _ = code_of(
        lambda: stub.GetPerson(person_pb2.GetPersonRequest(uid="x"), metadata=grpc_auth(tokens.w1))
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT


def test_search_persons_pages_within_scope(
    channel: grpc.Channel, tokens: Tokens, seeded: Seeded
) -> None:
    stub = person_pb2_grpc.PersonServiceStub(channel)
    first = stub.SearchPersons(
        person_pb2.SearchPersonsRequest(
            query="浙江省", field=person_pb2.SEARCH_FIELD_ADDRESS, page_size=1
        ),
        metadata=grpc_auth(tokens.w1),
    )
    assert len(first.persons) == 1
    assert first.next_page_token
    assert first.masked
    second = stub.SearchPersons(
        person_pb2.SearchPersonsRequest(
            query="浙江省", field=person_pb2.SEARCH_FIELD_ADDRESS, page_token=first.next_page_token
        ),
        metadata=grpc_auth(tokens.w1),
    )
    assert {first.persons[0].uid, second.persons[0].uid} == {seeded.p1, seeded.p2}
    none = stub.SearchPersons(
        person_pb2.SearchPersonsRequest(query="王芳"), metadata=grpc_auth(tokens.w1)
    )
    assert list(none.persons) == []
    for bad in (
        person_pb2.SearchPersonsRequest(query="x" * 65),
        person_pb2.SearchPersonsRequest(query="' OR 1=1 --", page_size=1000),
        person_pb2.SearchPersonsRequest(query="a", field=99),
        person_pb2.SearchPersonsRequest(query="a", page_token="garbage!"),
    ):
        code, _ = code_of(lambda bad=bad: stub.SearchPersons(bad, metadata=grpc_auth(tokens.w1)))
        assert code is grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture
def ring(hub: Any) -> KeyRing:
    ring_: KeyRing = hub.ring
    ring_.signing_key()
    return ring_


def test_refused_tokens_are_unauthenticated(
    channel: grpc.Channel, ring: KeyRing, seeded: Seeded
) -> None:
    stub = person_pb2_grpc.PersonServiceStub(channel)
    now = claims()["iat"]
    forged = [
        forge({"alg": "none", "kid": ring.active().kid}, claims()),
        sign_with_ring(ring, claims(exp=now - 600)),
        sign_with_ring(ring, claims(nbf=now + 3600)),
        sign_with_ring(ring, claims(iss="evil")),
        sign_with_ring(ring, claims(aud="other")),
        sign_with_ring(ring, claims(), kid="k" * 43),
    ]
    request = person_pb2.GetPersonRequest(uid=seeded.p1)
    for token in forged:
        code, detail = code_of(
            lambda token=token: stub.GetPerson(request, metadata=grpc_auth(token))
        )
        assert code is grpc.StatusCode.UNAUTHENTICATED
        assert "worker-0427" not in detail
    code, _ = code_of(lambda: stub.GetPerson(request))
    assert code is grpc.StatusCode.UNAUTHENTICATED
    code, _ = code_of(lambda: stub.GetPerson(request, metadata=[("authorization", "Basic x")]))
    assert code is grpc.StatusCode.UNAUTHENTICATED


def test_tasks_create_get_list_transition(
    channel: grpc.Channel, tokens: Tokens, seeded: Seeded, sessions: sessionmaker[Session], hub: Hub
) -> None:
    stub = task_pb2_grpc.TaskServiceStub(channel)
    request = task_pb2.CreateTaskRequest(
        category="elder_visit",
        title="探访独居老人",
        grid_code=G1,
        person_uid=seeded.p1,
        sla=Duration(seconds=int(timedelta(hours=24).total_seconds())),
        requester_ref="HL-2026-0001",
    )
    created = stub.CreateTask(request, metadata=grpc_auth(tokens.hotline))
    assert created.created
    assert created.task.state == common_pb2.TASK_STATE_PENDING
    assert created.task.assignee in {"W1", "W2"}
    assert created.task.requester_source == "hotline"
    entry = last_entry(hub)
    assert (entry.counterpart, entry.operation, entry.direction) == (
        "hotline",
        "task.create",
        "inbound",
    )
    again = stub.CreateTask(request, metadata=grpc_auth(tokens.hotline))
    assert not again.created
    assert again.task.uid == created.task.uid
    worker_token = tokens.make("grid_worker", created.task.assignee, (G1,))
    inbox = stub.ListTasks(task_pb2.ListTasksRequest(), metadata=grpc_auth(worker_token))
    assert created.task.uid in [t.uid for t in inbox.tasks]
    requested = stub.ListTasks(
        task_pb2.ListTasksRequest(view=task_pb2.TASK_VIEW_REQUESTED),
        metadata=grpc_auth(tokens.hotline),
    )
    assert {t.uid for t in requested.tasks} == {created.task.uid, seeded.task_g1}
    accepted = stub.TransitionTask(
        task_pb2.TransitionTaskRequest(
            uid=created.task.uid,
            action=task_pb2.TASK_ACTION_ACCEPT,
            expected_version=created.task.version,
        ),
        metadata=grpc_auth(worker_token),
    )
    assert accepted.state == common_pb2.TASK_STATE_ACCEPTED
    assert [h.action for h in accepted.history] == ["create", "accept"]
    code, _ = code_of(
        lambda: stub.TransitionTask(
            task_pb2.TransitionTaskRequest(
                uid=created.task.uid, action=task_pb2.TASK_ACTION_START, expected_version=1
            ),
            metadata=grpc_auth(worker_token),
        )
    )
    assert code is grpc.StatusCode.ABORTED
    code, _ = code_of(
        lambda: stub.TransitionTask(
            task_pb2.TransitionTaskRequest(
                uid=created.task.uid, action=task_pb2.TASK_ACTION_COMPLETE, result="resolved"
            ),
            metadata=grpc_auth(worker_token),
        )
    )
    assert code is grpc.StatusCode.FAILED_PRECONDITION
    got = stub.GetTask(
        task_pb2.GetTaskRequest(uid=created.task.uid), metadata=grpc_auth(tokens.admin)
    )
    assert got.version == accepted.version


def test_task_refusals(channel: grpc.Channel, tokens: Tokens, seeded: Seeded) -> None:
    stub = task_pb2_grpc.TaskServiceStub(channel)
    outside = task_pb2.CreateTaskRequest(
        category="fire_check", title="x", grid_code=G1, requester_ref="D-9"
    )
    code, _ = code_of(lambda: stub.CreateTask(outside, metadata=grpc_auth(tokens.scoped_platform)))
    assert code is grpc.StatusCode.PERMISSION_DENIED
    code, _ = code_of(lambda: stub.CreateTask(outside, metadata=grpc_auth(tokens.w1)))
    assert code is grpc.StatusCode.PERMISSION_DENIED  # workers do not raise tasks
    invalid = task_pb2.CreateTaskRequest(
        category="Bad Category", title="x", grid_code=G2, requester_ref="r"
    )
    code, _ = code_of(lambda: stub.CreateTask(invalid, metadata=grpc_auth(tokens.scoped_platform)))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    code, _ = code_of(
        lambda: stub.GetTask(
            task_pb2.GetTaskRequest(uid=seeded.task_g2), metadata=grpc_auth(tokens.w1)
        )
    )
    assert code is grpc.StatusCode.PERMISSION_DENIED
    code, _ = code_of(
        lambda: stub.TransitionTask(
            task_pb2.TransitionTaskRequest(
                uid=seeded.task_g1, action=task_pb2.TASK_ACTION_UNSPECIFIED
            ),
            metadata=grpc_auth(tokens.w1),
        )
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT
