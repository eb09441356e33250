# ruff: noqa: PT017  (a property is "a result or this typed error": the except branch asserts)
"""Bad tokens, injection strings and malformed protobuf at the hub's front doors.

JWTs from the corpus (templates signed at test time against the hub's own key ring, or
literal garbage) go to the REST app (FastAPI ``TestClient``) and to the real gRPC server on
a free port; each is refused with its problem code. Injection strings go through every
search mode and match nothing. Malformed protobuf frames go to every RPC and into an ingest
stream between good records: INVALID_ARGUMENT, or quarantined whole — the good records and
the server stay.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from google.protobuf.message_factory import GetMessageClass
from google.protobuf.struct_pb2 import Struct
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api import Hub, create_app
from canonical_model import Person, Quarantine, SourceRecord
from canonical_model.values import InvalidAddress, normalize_address
from grpc_api import RunningServer, build_server
from grpc_api.gen.gridhub.v1 import (
    event_pb2,
    ingest_pb2,
    person_pb2,
    person_pb2_grpc,
    task_pb2,
)
from grpc_api.rpc import grpc
from identity import KeyRing
from tests.api.district import Seeded, Settings, Tokens, bearer, grpc_auth
from tests.corpus.corpus import Entry, grow, of_kind
from tests.identity.helpers import b64, claims, forge, part, sign_with_ring

JWTS = [pytest.param(e, id=e.file) for e in of_kind("jwt")]
PROTOBUF = [pytest.param(e, id=e.file) for e in of_kind("protobuf")]
INJECTIONS = [
    line for line in of_kind("sql")[0].read().decode("utf-8").splitlines() if line.strip()
]


@pytest.fixture
def client(settings: Settings, hub: Hub) -> Iterator[TestClient]:
    with TestClient(create_app(settings, hub=hub)) as test_client:
        yield test_client


@pytest.fixture
def ring(hub: Hub) -> KeyRing:
    ring_: KeyRing = hub.ring
    ring_.signing_key()
    return ring_


def _token(entry: Entry, ring: KeyRing, tmp_path: Path) -> str:
    """The corpus entry as a token: literal text, or a template signed as it says."""
    if entry.file.endswith(".txt"):
        text = entry.read().decode("utf-8").strip()
        return (
            grow(text.encode(), entry.params["grow_to"]).decode()
            if "grow_to" in entry.params
            else text
        )
    spec: dict[str, Any] = json.loads(entry.read())
    now = claims()["iat"]
    body = claims(
        **{k: now + v if k in ("exp", "nbf") else v for k, v in spec.get("claims", {}).items()}
    )
    header = {"kid": ring.active().kid, **spec.get("header", {})}
    how = spec["sign"]
    if how == "none":
        return forge(header, body)
    if how == "hs256-public-key":
        key = ring.resolve(ring.active().kid)
        assert key is not None
        pem = key.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        signing_input = f"{part(header)}.{part(body)}"
        return (
            f"{signing_input}.{b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())}"
        )
    if how == "foreign-ring":
        return sign_with_ring(KeyRing(tmp_path / "elsewhere"), body)
    if how == "tamper-claims":
        head, _, sig = sign_with_ring(ring, claims()).split(".")
        return f"{head}.{part(body)}.{sig}"
    assert how == "ring", entry.file
    return sign_with_ring(ring, body)


@pytest.mark.parametrize("entry", JWTS)
def test_bad_tokens_are_refused_over_rest(
    entry: Entry, client: TestClient, ring: KeyRing, seeded: Seeded, tmp_path: Path
) -> None:
    token = _token(entry, ring, tmp_path)
    r = client.get(f"/api/v1/persons/{seeded.p1}", headers=bearer(token))
    assert r.status_code == 401
    assert r.json()["code"] == entry.expect
    assert token[:40] not in r.text


@pytest.fixture
def server(hub: Hub) -> Iterator[RunningServer]:
    running = build_server(hub, "127.0.0.1:0", max_workers=4)
    yield running
    running.stop(0)


@pytest.fixture
def channel(server: RunningServer) -> Iterator[Any]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        yield ch


@pytest.mark.integration
def test_bad_tokens_are_refused_over_grpc(
    channel: Any, ring: KeyRing, seeded: Seeded, tmp_path: Path
) -> None:
    stub = person_pb2_grpc.PersonServiceStub(channel)  # type: ignore[no-untyped-call]
    for entry in of_kind("jwt"):
        token = _token(entry, ring, tmp_path)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetPerson(
                person_pb2.GetPersonRequest(uid=seeded.p1),
                metadata=grpc_auth(token),
                timeout=10,
            )
        allowed = {grpc.StatusCode.UNAUTHENTICATED}
        if "grow_to" in entry.params:  # gRPC itself caps metadata at 16 kB, before the app
            allowed.add(grpc.StatusCode.RESOURCE_EXHAUSTED)
        assert caught.value.code() in allowed, entry.file
        assert token[:40] not in (caught.value.details() or ""), entry.file


def test_injection_strings_in_search_match_nothing_and_change_nothing(
    client: TestClient, tokens: Tokens, seeded: Seeded, sessions: sessionmaker[Session]
) -> None:
    def search(text: str, by: str) -> Any:
        r = client.get(
            "/api/v1/persons", params={"q": text, "by": by}, headers=bearer(tokens.admin)
        )
        assert r.status_code in (200, 422), (text, by, r.status_code)
        if r.status_code == 422:
            assert r.headers["content-type"] == "application/problem+json"
            return None
        return sorted(item["uid"] for item in r.json()["items"])

    for q in INJECTIONS:
        for by in ("name", "pinyin", "phone", "resident_id"):
            assert search(q, by) in (None, []), (q, by)
        # As an address the string is text: it finds what its address normal form finds (a
        # trailing "1" reads as a room number), never more.
        try:
            fragment: str | None = normalize_address(q)
        except InvalidAddress:
            fragment = None
        for by in ("auto", "address"):
            found = search(q, by)
            if fragment and found is not None and _stable(fragment):
                assert found == search(fragment, "address"), (q, by)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Person)) == 4


def _stable(fragment: str) -> bool:
    try:
        return normalize_address(fragment) == fragment
    except InvalidAddress:
        return False


_SERVICES = {
    "PersonService": person_pb2,
    "TaskService": task_pb2,
    "EventService": event_pb2,
    "IngestService": ingest_pb2,
}
_METHODS = [
    ("PersonService", "GetPerson"),
    ("PersonService", "SearchPersons"),
    ("TaskService", "GetTask"),
    ("TaskService", "ListTasks"),
    ("TaskService", "TransitionTask"),
    ("TaskService", "CreateTask"),
    ("EventService", "PublishEvent"),
    ("IngestService", "GetCursor"),
]


def _protobuf_refuses(service: str, method: str, data: bytes) -> bool:
    """The oracle: does protobuf itself refuse these bytes as this method's request?

    A frame is only malformed relative to a message type: a length-delimited field 1 is an
    unknown field (kept, valid) where field 1 is an enum, and a broken string where it is one.
    """
    descriptor = _SERVICES[service].DESCRIPTOR.services_by_name[service]
    request_class = GetMessageClass(descriptor.methods_by_name[method].input_type)
    try:
        request_class.FromString(data)
    except Exception:  # DecodeError, and whatever else the parser raises on garbage
        return True
    return False


@pytest.mark.integration
@pytest.mark.parametrize("entry", PROTOBUF)
def test_malformed_protobuf_is_invalid_argument_wherever_protobuf_refuses_it(
    entry: Entry, channel: Any, tokens: Tokens, seeded: Seeded
) -> None:
    refused_somewhere = False
    for service, method in _METHODS:
        call = channel.unary_unary(f"/gridhub.v1.{service}/{method}")
        if _protobuf_refuses(service, method, entry.read()):
            refused_somewhere = True
            with pytest.raises(grpc.RpcError) as caught:
                call(entry.read(), metadata=grpc_auth(tokens.admin), timeout=10)
            assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT, method
        else:  # parsed (unknown fields kept): answered or refused by the service, never a crash
            try:
                call(entry.read(), metadata=grpc_auth(tokens.admin), timeout=10)
            except grpc.RpcError as err:
                assert err.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
    assert refused_somewhere, f"{entry.file} is not malformed for any request type"
    stub = person_pb2_grpc.PersonServiceStub(channel)  # type: ignore[no-untyped-call]
    alive = stub.GetPerson(
        person_pb2.GetPersonRequest(uid=seeded.p1), metadata=grpc_auth(tokens.w1)
    )
    assert alive.uid == seeded.p1


_STEMS = "甲乙丙丁戊己庚辛壬癸子丑寅卯"


def _record(key: str, payload: dict[str, Any], cursor: str) -> bytes:
    body = Struct()
    body.update(payload)
    message = ingest_pb2.PushRecordsRequest(
        record=ingest_pb2.PushedRecord(source_key=key, payload=body, cursor=cursor)
    )
    data: bytes = message.SerializeToString()
    return data


@pytest.mark.integration
def test_malformed_frames_inside_an_ingest_stream_are_quarantined_and_the_rest_stored(
    channel: Any, tokens: Tokens, sessions: sessionmaker[Session]
) -> None:
    header = ingest_pb2.PushRecordsRequest(
        header=ingest_pb2.PushHeader(stream="persons", checkpoint_every=3)
    ).SerializeToString()
    frames = [header]
    for i, entry in enumerate(of_kind("protobuf")):
        frames.append(
            _record(f"P-{i}", {"name": f"居民{_STEMS[i]}", "address": "文三路1号"}, f"c{i}")
        )
        frames.append(entry.read())
    nested = ingest_pb2.PushRecordsRequest(
        record=ingest_pb2.PushedRecord(
            source_key="P-deep", raw_json=b'{"name": ' + b"[" * 5000 + b"]" * 5000 + b"}"
        )
    )
    frames.append(nested.SerializeToString())
    push = channel.stream_unary("/gridhub.v1.IngestService/PushRecords")
    raw = push(iter(frames), metadata=grpc_auth(tokens.hotline), timeout=30)
    report = ingest_pb2.PushRecordsResponse.FromString(raw)
    corpus = of_kind("protobuf")
    assert report.inserted == len(corpus)
    assert report.quarantined == len(corpus) + 1
    with sessions() as s:
        stored = set(s.scalars(select(SourceRecord.source_key)))
        kept = {bytes(q.raw): q.reason_code for q in s.scalars(select(Quarantine))}
    assert stored == {f"P-{i}" for i in range(len(corpus))}
    for entry in corpus:
        assert kept.get(entry.read()) == "schema.unparseable", entry.file


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.file) for e in of_kind("rest_body")])
def test_broken_request_bodies_are_problems_and_change_nothing(
    entry: Entry, client: TestClient, tokens: Tokens, seeded: Seeded
) -> None:
    url = f"/api/v1/tasks/{seeded.task_g1}"
    before = client.get(url, headers=bearer(tokens.w1)).json()
    r = client.post(
        f"{url}/transitions",
        content=entry.read(),
        headers={**bearer(tokens.w1), "Content-Type": "application/json"},
    )
    assert r.status_code in (400, 422)
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == entry.expect, r.json()["code"]
    assert client.get(url, headers=bearer(tokens.w1)).json() == before
