"""EventService: publishing into workflow's intake, and a resumable subscription."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.orm import Session, sessionmaker

import grpc
from api.events import EventFeed
from api.policy import GRPC, Access, Policy
from canonical_model import Event
from canonical_model.store import transaction
from grpc_api.gen.gridhub.v1 import event_pb2, event_pb2_grpc
from identity import Principal, Role
from tests.api.district import G1, G2, Seeded, Tokens, grpc_auth


def _now() -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC))
    return stamp


def _publish(stub: Any, token: str, ref: str, grid: str = G1, **kw: Any) -> Any:
    payload = Struct()
    payload.update({"text": "楼道有烟", "floor": 3})
    return stub.PublishEvent(
        event_pb2.PublishEventRequest(
            type="device.smoke",
            severity=kw.pop("severity", 4),
            occurred_at=_now(),
            source_ref=ref,
            grid_code=grid,
            payload=payload,
            **kw,
        ),
        metadata=grpc_auth(token),
    )


def test_publish_goes_into_workflow_intake(
    channel: grpc.Channel, tokens: Tokens, seeded: Seeded
) -> None:
    stub = event_pb2_grpc.EventServiceStub(channel)
    first = _publish(stub, tokens.hotline, "ALARM-1", person_uid=seeded.p1)
    assert first.status == event_pb2.INTAKE_STATUS_NEW
    assert first.event_uid
    again = _publish(stub, tokens.hotline, "ALARM-1", person_uid=seeded.p1)
    assert again.status == event_pb2.INTAKE_STATUS_DUPLICATE
    assert again.event_uid == first.event_uid
    with pytest.raises(grpc.RpcError) as refused:
        _publish(stub, tokens.scoped_platform, "ALARM-2", grid=G1)
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as worker:
        _publish(stub, tokens.w1, "ALARM-3")
    assert worker.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as missing:
        stub.PublishEvent(
            event_pb2.PublishEventRequest(type="device.smoke", source_ref="x", grid_code=G2),
            metadata=grpc_auth(tokens.scoped_platform),
        )
    assert missing.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def _take(stream: Any, count: int) -> list[Any]:
    return [next(stream) for _ in range(count)]


def test_subscription_resumes_without_loss_or_repeat(
    channel: grpc.Channel, tokens: Tokens, seeded: Seeded
) -> None:
    stub = event_pb2_grpc.EventServiceStub(channel)
    stream = stub.SubscribeEvents(
        event_pb2.SubscribeEventsRequest(replay=True), metadata=grpc_auth(tokens.w1), timeout=20
    )
    (first,) = _take(stream, 1)
    assert first.event.uid == seeded.event_g1  # the G2 event is not W1's
    stream.cancel()
    token = first.resume_token
    new_g2 = _publish(stub, tokens.hotline, "A-G2", grid=G2).event_uid
    new_g1 = _publish(stub, tokens.hotline, "A-G1").event_uid
    assert new_g2
    resumed = stub.SubscribeEvents(
        event_pb2.SubscribeEventsRequest(resume_token=token),
        metadata=grpc_auth(tokens.w1),
        timeout=20,
    )
    (notice,) = _take(resumed, 1)
    assert notice.event.uid == new_g1
    assert notice.event.type == "device.smoke"
    assert notice.event.grid_code == G1
    resumed.cancel()


def test_idle_subscriptions_get_heartbeats_and_bad_tokens_are_refused(
    channel: grpc.Channel, tokens: Tokens, seeded: Seeded
) -> None:
    stub = event_pb2_grpc.EventServiceStub(channel)
    stream = stub.SubscribeEvents(
        event_pb2.SubscribeEventsRequest(heartbeat_seconds=1),
        metadata=grpc_auth(tokens.w1),
        timeout=20,
    )
    (beat,) = _take(stream, 1)
    assert not beat.HasField("event")
    assert beat.resume_token
    stream.cancel()
    bad = stub.SubscribeEvents(
        event_pb2.SubscribeEventsRequest(resume_token="%%%"), metadata=grpc_auth(tokens.w1)
    )
    with pytest.raises(grpc.RpcError) as info:
        next(bad)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    unauthenticated = stub.SubscribeEvents(event_pb2.SubscribeEventsRequest())
    with pytest.raises(grpc.RpcError) as info:
        next(unauthenticated)
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED


def _event(id_: int, grid: str = G1) -> Event:
    return Event(
        id=id_,
        type="t",
        occurred_at=datetime.now(UTC),
        grid_code=grid,
        source="s",
        source_ref=f"r{id_}",
    )


def test_the_feed_waits_at_a_gap_until_it_settles(
    sessions: sessionmaker[Session], seeded: Seeded
) -> None:
    access = Access(Principal("W1", Role.GRID_WORKER, frozenset({G1})), GRPC, "c")
    policy = Policy(log_reads=False)
    with transaction(sessions) as s:
        s.add_all([_event(100), _event(102)])  # 101: still being committed elsewhere
    with sessions() as s:
        feed = EventFeed(access, policy, watermark=99, gap_grace=5.0)
        assert [p for p, _ in feed.poll(s, now=0.0)] == [100]
        assert feed.watermark == 100
        assert feed.poll(s, now=1.0) == []  # 101 might still commit
    with transaction(sessions) as s:
        s.add(_event(101))
    with sessions() as s:
        assert [p for p, _ in feed.poll(s, now=2.0)] == [101, 102]
    with transaction(sessions) as s:
        s.add_all([_event(104), _event(105, grid=G2)])  # 103 never comes (rolled back)
    with sessions() as s:
        assert feed.poll(s, now=10.0) == []
        assert [p for p, _ in feed.poll(s, now=15.5)] == [104]
        assert feed.watermark == 105  # invisible events still move the watermark


def test_a_subscription_ends_when_its_token_expires(
    channel: grpc.Channel, tokens: Tokens, seeded: Seeded
) -> None:
    short = tokens.make("grid_worker", "W1", (G1,), ttl=timedelta(seconds=2))
    stream = event_pb2_grpc.EventServiceStub(channel).SubscribeEvents(
        event_pb2.SubscribeEventsRequest(replay=True, heartbeat_seconds=1),
        metadata=grpc_auth(short),
        timeout=20,
    )
    with pytest.raises(grpc.RpcError) as info:
        list(itertools.islice(stream, 50))
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
