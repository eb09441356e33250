"""The gRPC flows that touch the store differently on each backend, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools

from google.protobuf.struct_pb2 import Struct
from sqlalchemy.orm import Session, sessionmaker

import audit
import grpc
from audit.signing import KeySet
from grpc_api.gen.gridhub.v1 import (
    event_pb2,
    event_pb2_grpc,
    ingest_pb2,
    ingest_pb2_grpc,
    person_pb2,
    person_pb2_grpc,
)
from tests.api.district import P1_ID, Seeded, Tokens, grpc_auth
from tests.api.fixtures import store_url_each_backend

store_url = store_url_each_backend  # both backends (tests/api/fixtures.py)


def _pushes() -> list[ingest_pb2.PushRecordsRequest]:
    header = ingest_pb2.PushRecordsRequest(header=ingest_pb2.PushHeader(stream="persons"))
    records = []
    for n in range(5):
        body = Struct()
        body.update({"name": "张三李四王五赵六孙七"[2 * n : 2 * n + 2], "phone": f"1390000000{n}"})
        records.append(
            ingest_pb2.PushRecordsRequest(
                record=ingest_pb2.PushedRecord(source_key=f"K{n}", payload=body, cursor=f"c{n}")
            )
        )
    return [header, *records]


def test_read_push_and_follow_on_each_backend(
    channel: grpc.Channel, tokens: Tokens, seeded: Seeded, sessions: sessionmaker[Session]
) -> None:
    person = person_pb2_grpc.PersonServiceStub(channel).GetPerson(
        person_pb2.GetPersonRequest(uid=seeded.p1, reveal=True),
        metadata=grpc_auth(tokens.hotline, "hotline_case"),
    )
    assert person.resident_id == P1_ID
    report = ingest_pb2_grpc.IngestServiceStub(channel).PushRecords(
        iter(_pushes()), metadata=grpc_auth(tokens.hotline)
    )
    assert (report.inserted, report.cursor) == (5, "c4")
    stream = event_pb2_grpc.EventServiceStub(channel).SubscribeEvents(
        event_pb2.SubscribeEventsRequest(replay=True),
        metadata=grpc_auth(tokens.hotline),
        timeout=20,
    )
    seen = [n.event.uid for n in itertools.islice(stream, 2)]
    stream.cancel()
    assert seen == [seeded.event_g1, seeded.event_g2]
    with sessions() as s:
        accesses = audit.who_accessed(s, seeded.p1)
        report_ok = audit.verify_store(s, KeySet({})).ok
    assert [(a.counterpart, a.purpose) for a in accesses][:1] == [("hotline", "hotline_case")]
    assert report_ok
