"""The one-round-trip person read (PostgreSQL) against the narrow queries, on the same data.

The narrow queries are the reference (SQLite serves every read with them); the single
statement must produce the identical record for every kind of caller, read nothing but the
person row outside the caller's scope, and cost one statement.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from api import ApiConfig, Hub
from api.errors import OutsideScope
from api.person_record import read_person
from api.person_rows import fetch_one_trip
from api.policy import REST, Access
from identity import Principal, Role
from tests.api.district import COMMUNITY, G1, G2, Seeded

pytestmark = pytest.mark.integration


@pytest.fixture
def store_url(pg_url: str) -> str:
    return pg_url


def _callers() -> list[Access]:
    worker = Principal("W1", Role.GRID_WORKER, frozenset({G1}), frozenset({"welfare_visit"}))
    admin = Principal("CA1", Role.COMMUNITY_ADMIN, frozenset({COMMUNITY}), frozenset())
    ops = Principal("ops-1", Role.DISTRICT_IT, frozenset(), frozenset())
    return [
        Access(worker, REST, "c1"),
        Access(worker, REST, "c2", purpose="welfare_visit", clear=True),
        Access(admin, REST, "c3"),
        Access(ops, REST, "c4"),
    ]


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement sent to PostgreSQL from this thread, SQLAlchemy's or not."""
    seen: list[str] = []
    real = psycopg.Cursor.execute
    me = threading.get_ident()

    def execute(self: psycopg.Cursor[Any], query: Any, *args: Any, **kw: Any) -> Any:
        if threading.get_ident() == me:
            seen.append(str(query))
        return real(self, query, *args, **kw)

    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    return seen


def test_one_trip_equals_the_narrow_queries(hub: Hub, seeded: Seeded) -> None:
    for access in _callers():
        for uid in (seeded.p1, seeded.p2, seeded.p3):
            with hub.sessions() as session:
                if not hub.policy.visible(access.principal, G1 if uid != seeded.p3 else G2):
                    continue
                one = read_person(session, hub.policy, access, uid)
                narrow = read_person(session, hub.policy, access, uid, one_trip=False)
            assert one == narrow, (access.principal.role, uid)
            assert one.model_dump_json() == narrow.model_dump_json()
    with hub.sessions() as session:  # the seeded record has every part filled in
        full = read_person(session, hub.policy, _callers()[1], seeded.p1)
    assert full.household is not None
    assert full.household.hidden_members == 1
    assert [x.field for x in full.lineage] == ["name", "phone", "resident_id"]
    assert len(full.sources) == 2
    assert full.recent_events
    assert full.open_tasks
    assert full.lineage[0].chosen_at.utcoffset() is not None


def test_one_statement_per_read(hub: Hub, seeded: Seeded, statements: list[str]) -> None:
    access = _callers()[0]
    with hub.sessions() as session:
        read_person(session, hub.policy, access, seeded.p1)
        # the tests' engine pings each checkout (";"); the API's own engine does not
        mine = [s for s in statements if "exchange_log" not in s and s.strip() != ";"]
    assert len(mine) == 1, mine


def test_outside_scope_reads_only_the_person_row(
    hub: Hub, seeded: Seeded, statements: list[str]
) -> None:
    worker = _callers()[0]
    with hub.sessions() as session:
        rows = fetch_one_trip(session.connection(), worker.principal, seeded.p3)
        assert rows is not None
        assert rows.household is None
        assert rows.events is None
        assert rows.tasks is None
        before = len(statements)
        with pytest.raises(OutsideScope):
            read_person(session, hub.policy, worker, seeded.p3)
    # the person row, then the refusal's own log transaction: nothing else was fetched
    refused = statements[before:]
    assert not any("household_member" in s for s in refused[1:]), refused


def test_a_lost_connection_is_read_again_on_a_fresh_pool(settings: Any, seeded: Seeded) -> None:
    """The one-trip read bypasses SQLAlchemy's cursor, so it must hand SQLAlchemy the
    recovery it would have done (the API's pool does not ping connections on checkout): the
    dead connection is invalidated, the pool started afresh, and the read — which wrote and
    logged nothing yet — asked once more, so a database restart costs no 503 per process."""
    hub = Hub.from_settings(settings, ApiConfig(), log_reads=False)
    worker = _callers()[0]
    try:
        for _ in range(2):  # two pooled connections, both to be killed
            with hub.sessions() as one, hub.sessions() as two:
                read_person(one, hub.policy, worker, seeded.p1)
                read_person(two, hub.policy, worker, seeded.p1)
        with psycopg.connect(
            hub.sessions.kw["bind"]
            .url.render_as_string(False)
            .replace("postgresql+psycopg", "postgresql"),
            autocommit=True,
        ) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        engine = hub.sessions.kw["bind"]
        dead_pool = engine.pool
        with hub.sessions() as session:
            assert read_person(session, hub.policy, worker, seeded.p1).uid == seeded.p1
        assert engine.pool is not dead_pool  # the dead siblings went with the old pool
        for _ in range(3):  # every later read gets a fresh connection
            with hub.sessions() as session:
                assert read_person(session, hub.policy, worker, seeded.p1).uid == seeded.p1
    finally:
        hub.close()
        hub.sessions.kw["bind"].dispose()
