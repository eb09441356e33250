"""A read's log entry tells what became of it: ``ok`` when served, ``not_sent`` when the call
failed after the data was read (the response is built only after the read returns)."""

from __future__ import annotations

from typing import Any

import pytest

import grpc
from api import Hub
from grpc_api import convert
from grpc_api.gen.gridhub.v1 import person_pb2, person_pb2_grpc
from tests.api.district import Seeded, Tokens, grpc_auth, logged_results


def test_a_read_that_fails_before_its_response_is_logged_not_sent(
    channel: grpc.Channel,
    tokens: Tokens,
    seeded: Seeded,
    hub: Hub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stub = person_pb2_grpc.PersonServiceStub(channel)
    request = person_pb2.GetPersonRequest(uid=seeded.p1)
    stub.GetPerson(request, metadata=grpc_auth(tokens.w1))

    def broken(record: Any) -> Any:
        raise RuntimeError("encoding failed")

    monkeypatch.setattr(convert, "person", broken)
    with pytest.raises(grpc.RpcError) as info:
        stub.GetPerson(request, metadata=grpc_auth(tokens.w1))
    assert info.value.code() is grpc.StatusCode.INTERNAL
    failed_id = dict(info.value.trailing_metadata() or ())["x-request-id"]
    monkeypatch.undo()
    stub.GetPerson(request, metadata=grpc_auth(tokens.w1))
    logged = logged_results(hub, "person.get")
    assert [result for result, _ in logged] == ["ok", "not_sent", "ok"]
    assert logged[1][1] == failed_id  # one entry for the failed call, and it is honest
