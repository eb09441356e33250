"""The fast ``GetPerson`` (PostgreSQL) shows and logs exactly what the shared path does."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

import grpc
from api import ApiConfig, Hub
from api.errors import NotFound
from api.person_record import read_person
from canonical_model import ExchangeLogEntry, Household, HouseholdMember, Person
from grpc_api import RunningServer, convert, person_sql
from grpc_api.gen.gridhub.v1 import person_pb2, person_pb2_grpc
from grpc_api.handlers import Call
from grpc_api.person_read import PersonReader
from tests.api.district import Seeded, Settings, Tokens, grpc_auth, logged_results
from tests.grpc_api.test_services import (  # noqa: F401  (collected again here: on PostgreSQL)
    test_get_person_masked_revealed_and_refused as test_get_person_on_postgresql,
)

pytestmark = pytest.mark.integration
_ENTRY = ("direction", "counterpart", "actor_subject", "actor_role", "purpose", "operation")


@pytest.fixture
def store_url(pg_url: str) -> str:
    return pg_url


def _call(hub: Hub, token: str, purpose: str | None, rid: str) -> Call:
    return Call(None, hub.verifier.verify(token), rid, purpose, "PersonService.GetPerson")


def _shared(hub: Hub, call: Call, uid: str, reveal: bool) -> person_pb2.Person:
    with hub.sessions() as session:
        access = call.access(hub, session, reveal=reveal)
        record = read_person(session, hub.policy, access, uid)
        session.commit()
    return convert.person(record)


def _entry(hub: Hub, correlation_id: str) -> tuple[Any, ...]:
    hub.flush_reads()
    with hub.sessions() as s:
        entry = s.scalars(
            select(ExchangeLogEntry).where(ExchangeLogEntry.correlation_id == correlation_id)
        ).one()
    return (*(getattr(entry, name) for name in _ENTRY), entry.object_refs, entry.record_count)


@pytest.mark.parametrize(
    ("who", "purpose", "reveal", "person"),
    [
        pytest.param("w1", None, False, "p1", id="masked-head-with-hidden-member"),
        pytest.param("w1", "welfare_visit", True, "p1", id="revealed"),
        pytest.param("w1", "welfare_visit", False, "p2", id="purpose-masked"),
        pytest.param("w4", None, False, "p3", id="other-grid"),
        pytest.param("admin", "welfare_visit", True, "p3", id="community-revealed"),
        pytest.param("operator", None, False, "p4", id="district-wide"),
    ],
)
def test_fast_read_equals_the_shared_path(
    hub: Hub,
    tokens: Tokens,
    seeded: Seeded,
    who: str,
    purpose: str | None,
    reveal: bool,
    person: str,
) -> None:
    assert PersonReader.applies(hub)
    reader = PersonReader(hub)
    token, uid = getattr(tokens, who), getattr(seeded, person)
    try:
        fast = reader.read(_call(hub, token, purpose, "fast"), uid, reveal)
    finally:
        reader.close()
    shared = _shared(hub, _call(hub, token, purpose, "shared"), uid, reveal)
    assert fast is not None  # the fast path served it, and
    assert fast == shared  # showed the same, field for field,
    assert _entry(hub, "fast") == _entry(hub, "shared")  # and logged the same


@pytest.mark.parametrize(
    ("who", "purpose", "reveal"),
    [
        pytest.param("w1", None, False, id="masked"),
        pytest.param("admin", "welfare_visit", True, id="revealed"),
    ],
)
def test_one_address_everywhere_equals_the_shared_path(
    hub: Hub, tokens: Tokens, seeded: Seeded, who: str, purpose: str | None, reveal: bool
) -> None:
    """Residential, registered and household address one and the same (the usual case): the
    fast read masks it once and reuses it, and still shows and logs what the shared path does."""
    with hub.sessions() as s:
        person = s.scalars(select(Person).where(Person.uid == seeded.p2)).one()
        home = person.residential_address_id
        person.registered_address_id = home
        household = select(HouseholdMember.household_id).where(
            HouseholdMember.person_id == person.id
        )
        s.execute(update(Household).where(Household.id.in_(household)).values(address_id=home))
        s.commit()
    reader = PersonReader(hub)
    token = getattr(tokens, who)
    try:
        fast = reader.read(_call(hub, token, purpose, "fast"), seeded.p2, reveal)
    finally:
        reader.close()
    shared = _shared(hub, _call(hub, token, purpose, "shared"), seeded.p2, reveal)
    assert fast is not None
    assert fast.residential_address != ""
    assert fast.registered_address == fast.household.address == fast.residential_address
    assert fast.masked is not reveal
    assert fast == shared
    assert _entry(hub, "fast") == _entry(hub, "shared")


@pytest.mark.parametrize(
    ("who", "purpose", "reveal", "person"),
    [
        pytest.param("w1", None, False, "p3", id="outside-scope"),
        pytest.param("w1", None, True, "p1", id="reveal-without-purpose"),
        pytest.param("w1", "hotline_case", False, "p1", id="purpose-not-granted"),
    ],
)
def test_refusals_are_left_to_the_shared_path(
    hub: Hub,
    tokens: Tokens,
    seeded: Seeded,
    who: str,
    purpose: str | None,
    reveal: bool,
    person: str,
) -> None:
    reader = PersonReader(hub)
    try:
        call = _call(hub, getattr(tokens, who), purpose, "refused")
        assert reader.read(call, getattr(seeded, person), reveal) is None
        assert reader.read(call, "not-a-ulid", False) is None
    finally:
        reader.close()
    assert logged_results(hub, "person.get") == []  # nothing logged: the shared path will


def test_reads_grouped_in_one_statement_each_equal_the_shared_path(
    hub: Hub, tokens: Tokens, seeded: Seeded
) -> None:
    """Callers of different scopes in one statement (``grpc_api.person_batch``): each sees
    what it would alone, a person outside one caller's grid included, and an unknown uid is
    that caller's 404 only."""
    reader = PersonReader(hub)
    asked = [  # (token, purpose, reveal, uid, correlation id)
        ("w1", None, False, seeded.p1, "g-w1-p1"),
        ("admin", "welfare_visit", True, seeded.p3, "g-admin-p3"),
        ("w1", "welfare_visit", True, seeded.p2, "g-w1-p2"),
        ("w4", None, False, seeded.p3, "g-w4-p3"),
        ("w1", None, False, seeded.p3, "g-w1-p3"),  # outside w1's grid: the shared path's
        ("w1", None, False, "01ZZZZZZZZZZZZZZZZZZZZZZZZ", "g-unknown"),
    ]
    run, statements = reader.group._run, []
    release = threading.Event()

    def held(reads: Any) -> Any:
        statements.append(len(reads))
        if len(statements) == 1:  # hold the first until the others wait behind it
            assert release.wait(10)
        return run(reads)

    reader.group._run = held
    results: dict[str, Any] = {}

    def read(token: str, purpose: str | None, reveal: bool, uid: str, rid: str) -> None:
        try:
            results[rid] = reader.read(
                _call(hub, getattr(tokens, token), purpose, rid), uid, reveal
            )
        except NotFound as exc:
            results[rid] = exc

    try:
        with ThreadPoolExecutor(len(asked)) as pool:
            pool.submit(read, *asked[0])
            _until(lambda: statements == [1])
            for n, ask in enumerate(asked[1:], 1):  # one at a time: they queue in this order
                pool.submit(read, *ask)
                _until(lambda n=n: len(reader.group._waiting) == n)  # type: ignore[misc]
            release.set()
    finally:
        reader.close()
    assert statements == [1, len(asked) - 1]  # the five behind the first went together
    assert isinstance(results.pop("g-unknown"), NotFound)
    assert results.pop("g-w1-p3") is None  # left to the shared path, which refuses it
    for token, purpose, reveal, uid, rid in asked[:4]:
        shared = _shared(hub, _call(hub, getattr(tokens, token), purpose, "s" + rid), uid, reveal)
        assert results[rid] == shared, rid
        assert _entry(hub, rid) == _entry(hub, "s" + rid), rid


def test_each_read_of_a_statement_is_scoped_by_its_own_caller(
    hub: Hub, tokens: Tokens, seeded: Seeded
) -> None:
    """SQL's scope test (defence in depth: Python's check decides) is per read: a person
    outside one caller's grid brings none of its household, lineage, events or tasks for that
    caller, even beside a caller who may see them."""
    w1, w4, operator = (hub.verifier.verify(getattr(tokens, t)) for t in ("w1", "w4", "operator"))
    unknown = "01ZZZZZZZZZZZZZZZZZZZZZZZZ"
    asked = [(w1, seeded.p3), (w4, seeded.p3), (operator, seeded.p3), (w1, seeded.p1)]
    reader = PersonReader(hub)
    try:
        with reader.connections.connection() as conn:
            rows = person_sql.fetch_persons(conn, [*asked, (w1, unknown)])
    finally:
        reader.close()
    *found, missing = rows
    assert missing is None
    assert [r.person[1] for r in found if r is not None] == [uid for _, uid in asked]
    assert [r.person[17] for r in found if r is not None] == [False, True, True, True]
    hidden = found[0]
    assert hidden is not None
    assert (hidden.household, hidden.lineage_and_sources, hidden.events, hidden.tasks) == (
        (None,) * 4
    )


def _until(condition: Any) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_the_grid_codes_literal_reaches_postgresql_as_they_were(hub: Hub) -> None:
    """As the statement passes them (a literal in a JSON row, cast back to an array): quotes,
    backslashes, commas and braces inside an element stay inside it."""
    odd = ['a"b', "c\\d", "e,f", "{g}", "", "网格 1"]
    rows = json.dumps([{"scopes": person_sql._array(odd)}], ensure_ascii=False)
    with hub.sessions() as s:
        back = s.execute(
            text(
                "SELECT CAST(q.scopes AS text[])"
                " FROM json_to_recordset(CAST(:rows AS json)) AS q(scopes text)"
            ),
            {"rows": rows},
        ).scalar_one()
    assert back == odd


def test_a_read_after_the_database_dropped_the_held_connections(
    server: RunningServer, channel: grpc.Channel, tokens: Tokens, seeded: Seeded, hub: Hub
) -> None:
    """A restart kills the held connections; the next read is asked once more, not a 503."""
    stub = person_pb2_grpc.PersonServiceStub(channel)
    request = person_pb2.GetPersonRequest(uid=seeded.p1)
    stub.GetPerson(request, metadata=grpc_auth(tokens.w1))
    url = hub.sessions.kw["bind"].url
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
    ) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert killed is not None
    assert killed[0] >= 1
    again = stub.GetPerson(request, metadata=grpc_auth(tokens.w1))
    assert (again.uid, again.masked) == (seeded.p1, True)
    assert [r for r, _ in logged_results(hub, "person.get")] == ["ok", "ok"]


def test_durable_read_logs_take_the_shared_path(
    settings: Settings, sessions: sessionmaker[Session], api_config: ApiConfig
) -> None:
    """With durable read logs the entry belongs in the read's transaction: not here."""
    durable = Hub.from_settings(
        settings, replace(api_config, durable_read_logs=True), sessions=sessions
    )
    assert not PersonReader.applies(durable)
