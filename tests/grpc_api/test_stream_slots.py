"""Open streams cannot take the threads unary calls need.

A server-streaming subscription (and a client-streaming push) holds a handler thread for
its whole life. Without a bound, as many subscribers as ``--threads`` would leave every
``GetPerson`` of that process queued behind them for as long as they stay subscribed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

import grpc
from api import ApiConfig, Hub
from grpc_api import RunningServer, build_server
from grpc_api.gen.gridhub.v1 import (
    event_pb2,
    event_pb2_grpc,
    ingest_pb2,
    ingest_pb2_grpc,
    person_pb2,
    person_pb2_grpc,
)
from grpc_api.services import EventService, PersonService
from tests.api.district import Seeded, Settings, Tokens, grpc_auth


@pytest.fixture
def two_slots(settings: Settings, sessions: Any, api_config: ApiConfig) -> Iterator[Hub]:
    hub = Hub.from_settings(settings, replace(api_config, grpc_streams=2), sessions=sessions)
    yield hub
    hub.close()


@pytest.fixture
def small(two_slots: Hub) -> Iterator[RunningServer]:
    running = build_server(two_slots, "127.0.0.1:0", max_workers=1)  # one unary thread
    yield running
    running.stop(0)


def _subscribe(stub: Any, token: str) -> Any:
    stream = stub.SubscribeEvents(
        event_pb2.SubscribeEventsRequest(heartbeat_seconds=1), metadata=grpc_auth(token), timeout=30
    )
    assert not next(stream).HasField("event")  # a heartbeat: the stream is open and held
    return stream


def test_streams_beyond_the_slots_are_refused_and_unary_calls_still_run(
    small: RunningServer, tokens: Tokens, seeded: Seeded
) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{small.port}") as channel:
        events = event_pb2_grpc.EventServiceStub(channel)
        people = person_pb2_grpc.PersonServiceStub(channel)
        held = [_subscribe(events, tokens.w1), _subscribe(events, tokens.w1)]
        with pytest.raises(grpc.RpcError) as refused:
            next(
                events.SubscribeEvents(
                    event_pb2.SubscribeEventsRequest(), metadata=grpc_auth(tokens.w1), timeout=10
                )
            )
        assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "open streams" in (refused.value.details() or "")
        push = ingest_pb2.PushRecordsRequest(header=ingest_pb2.PushHeader(stream="persons"))
        with pytest.raises(grpc.RpcError) as pushed:  # a client stream takes a slot too
            ingest_pb2_grpc.IngestServiceStub(channel).PushRecords(
                iter([push]), metadata=grpc_auth(tokens.hotline), timeout=10
            )
        assert pushed.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        answer = people.GetPerson(  # the unary thread is still free
            person_pb2.GetPersonRequest(uid=seeded.p1), metadata=grpc_auth(tokens.w1), timeout=10
        )
        assert answer.uid == seeded.p1
        held[0].cancel()
        codes = []
        for _ in range(50):  # the slot comes back once the cancelled stream's handler ends
            again = _try_subscribe(events, tokens.w1)
            if not isinstance(again, grpc.StatusCode):
                again.cancel()
                break
            codes.append(again)
            time.sleep(0.1)
        else:
            pytest.fail("a cancelled stream never gave its slot back")
        assert set(codes) <= {grpc.StatusCode.RESOURCE_EXHAUSTED}
        held[1].cancel()


def _try_subscribe(stub: Any, token: str) -> Any:
    """An open stream, or the status code it was refused with."""
    try:
        return _subscribe(stub, token)
    except grpc.RpcError as exc:
        return exc.code()


def test_streams_run_on_their_own_threads_and_unary_calls_on_the_servers(
    two_slots: Hub, tokens: Tokens, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's threads are the unary calls' alone (``--threads``): a stream's handler runs
    on the stream pool, so neither can be starved by the other and unary calls do not run on
    more threads than asked for."""
    ran: dict[str, str] = {}

    def recording(cls: type, name: str) -> None:
        original = getattr(cls, name)

        def wrapper(self: Any, request: Any, call: Any) -> Any:
            ran[name] = threading.current_thread().name
            return original(self, request, call)

        monkeypatch.setattr(cls, name, wrapper)

    recording(EventService, "SubscribeEvents")
    recording(PersonService, "GetPerson")
    running = build_server(two_slots, "127.0.0.1:0", max_workers=1)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stream = _subscribe(event_pb2_grpc.EventServiceStub(channel), tokens.w1)
            person_pb2_grpc.PersonServiceStub(channel).GetPerson(
                person_pb2.GetPersonRequest(uid=seeded.p1), metadata=grpc_auth(tokens.w1)
            )
            stream.cancel()
    finally:
        running.stop(0)
    assert ran["SubscribeEvents"].startswith("grpc-stream_")
    assert ran["GetPerson"].startswith("grpc_")
