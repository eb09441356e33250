"""IngestService: a platform's records through the same engine, quarantine and log as adapters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf.struct_pb2 import Struct
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import grpc
from canonical_model import ExchangeLogEntry, Quarantine, SourceRecord, SyncState
from grpc_api.gen.gridhub.v1 import ingest_pb2, ingest_pb2_grpc
from tests.api.district import Tokens, grpc_auth, resident_id

VALID_ID = resident_id("33010619600101555")


def _header(stream: str = "persons", every: int = 2) -> ingest_pb2.PushRecordsRequest:
    return ingest_pb2.PushRecordsRequest(
        header=ingest_pb2.PushHeader(stream=stream, checkpoint_every=every)
    )


def _record(key: str, payload: dict[str, Any], cursor: str = "") -> ingest_pb2.PushRecordsRequest:
    body = Struct()
    body.update(payload)
    return ingest_pb2.PushRecordsRequest(
        record=ingest_pb2.PushedRecord(source_key=key, payload=body, cursor=cursor)
    )


def _raw(key: str, data: bytes, cursor: str = "") -> ingest_pb2.PushRecordsRequest:
    return ingest_pb2.PushRecordsRequest(
        record=ingest_pb2.PushedRecord(source_key=key, raw_json=data, cursor=cursor)
    )


def _messages() -> list[ingest_pb2.PushRecordsRequest]:
    return [
        _header(),
        _record("P-1", {"name": "孙丽", "resident_id": VALID_ID, "phone": "13911112222"}, "c1"),
        _raw("P-2", json.dumps({"name": "周强", "address": "文三路1号"}).encode(), "c2"),
        _raw("P-3", b"{not json", "c3"),  # kept whole in quarantine
        _record("P-4", {"phone": "13911113333"}, "c4"),  # neither name nor ID: quarantined
        _record("", {"name": "无键"}, "c5"),
    ]


def _serialised(messages: list[ingest_pb2.PushRecordsRequest]) -> Iterator[bytes]:
    for message in messages:
        yield message.SerializeToString()


def test_push_goes_through_the_sync_engine(
    channel: grpc.Channel, tokens: Tokens, sessions: sessionmaker[Session]
) -> None:
    stub = ingest_pb2_grpc.IngestServiceStub(channel)
    report = stub.PushRecords(iter(_messages()), metadata=grpc_auth(tokens.hotline))
    assert (report.source, report.stream) == ("hotline", "persons")
    assert (report.received, report.inserted, report.quarantined) == (5, 2, 3)
    assert report.checkpoints == 3
    assert report.cursor == "c5"
    with sessions() as s:
        records = {r.source_key: r for r in s.scalars(select(SourceRecord))}
        quarantined = list(s.scalars(select(Quarantine).order_by(Quarantine.id)))
        entries = list(
            s.scalars(select(ExchangeLogEntry).where(ExchangeLogEntry.operation == "sync.persons"))
        )
        state = s.get(SyncState, ("hotline", "persons"))
    assert set(records) == {"P-1", "P-2"}
    assert records["P-1"].canonical["resident_id"] == VALID_ID
    assert records["P-2"].canonical["name"] == "周强"
    assert [q.reason_code for q in quarantined] == [
        "schema.unparseable",
        "identity.insufficient",
        "schema.source_key",
    ]
    assert bytes(quarantined[0].raw) == b"{not json"
    assert sum(e.record_count for e in entries) == 5
    assert {(e.direction, e.counterpart, e.actor_subject) for e in entries} == {
        ("inbound", "hotline", "hotline")
    }
    assert state is not None
    assert state.cursor == {"position": "c5"}
    cursor = stub.GetCursor(
        ingest_pb2.GetCursorRequest(stream="persons"), metadata=grpc_auth(tokens.hotline)
    )
    assert (cursor.cursor, cursor.records_seen) == ("c5", 5)
    # the same records again: recognised by content hash, nothing new stored
    again = stub.PushRecords(iter(_messages()[:3]), metadata=grpc_auth(tokens.hotline))
    assert (again.received, again.inserted, again.unchanged) == (2, 0, 2)


def test_malformed_protobuf_inside_the_stream_is_quarantined(
    channel: grpc.Channel, tokens: Tokens, sessions: sessionmaker[Session]
) -> None:
    push = channel.stream_unary("/gridhub.v1.IngestService/PushRecords")
    frames = [
        _header("dibao").SerializeToString(),
        _record("D-1", {"amount": 800}).SerializeToString(),
        b"\xff\xff\xff\xff\xff",
    ]
    raw = push(iter(frames), metadata=grpc_auth(tokens.hotline))
    report = ingest_pb2.PushRecordsResponse.FromString(raw)
    assert (report.received, report.inserted, report.quarantined) == (2, 1, 1)
    with sessions() as s:
        kept = s.scalars(select(Quarantine.raw)).one()
    assert bytes(kept) == b"\xff\xff\xff\xff\xff"


@pytest.mark.parametrize(
    ("token", "messages", "code"),
    [
        pytest.param("w1", [_header()], grpc.StatusCode.PERMISSION_DENIED, id="worker"),
        pytest.param("hotline", [], grpc.StatusCode.INVALID_ARGUMENT, id="empty"),
        pytest.param(
            "hotline", [_record("k", {"a": 1})], grpc.StatusCode.INVALID_ARGUMENT, id="no-header"
        ),
        pytest.param(
            "hotline", [_header("Bad Stream!")], grpc.StatusCode.INVALID_ARGUMENT, id="bad-stream"
        ),
        pytest.param(
            "hotline", [_header(every=10**6)], grpc.StatusCode.INVALID_ARGUMENT, id="checkpoint"
        ),
    ],
)
def test_push_refusals(
    channel: grpc.Channel, tokens: Tokens, token: str, messages: Any, code: grpc.StatusCode
) -> None:
    stub = ingest_pb2_grpc.IngestServiceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.PushRecords(iter(messages), metadata=grpc_auth(getattr(tokens, token)))
    assert info.value.code() is code
