"""``GetPerson``'s own statement (:mod:`grpc_api.person_sql`): times, and a lost preparation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api import Hub
from grpc_api import convert
from grpc_api.handlers import Call
from grpc_api.person_read import PersonReader, _stamp
from grpc_api.person_sql import NAME, fetch_persons
from tests.api.district import Seeded, Tokens


@pytest.mark.parametrize(
    "when",
    [
        datetime(2024, 5, 17, 8, 30, 1, 123456, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # before the epoch
        datetime(1901, 2, 3, 4, 5, 6, 7, tzinfo=UTC),
    ],
)
def test_microseconds_make_the_timestamp_a_datetime_makes(when: datetime) -> None:
    micros = (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert _stamp(micros) == convert.timestamp(when)


def test_no_time_no_timestamp() -> None:
    assert _stamp(None) is None


@pytest.mark.integration
def test_a_session_that_lost_the_statement_prepares_it_again(
    pg_url: str, hub: Hub, tokens: Tokens, seeded: Seeded
) -> None:
    """``DEALLOCATE ALL`` (a pooler, a reset) behind the held connection's back: the next read
    prepares again and answers the same, instead of failing."""
    assert PersonReader.applies(hub)
    reader = PersonReader(hub, keep=1)
    call = Call(None, hub.verifier.verify(tokens.w1), "first", None, "PersonService.GetPerson")
    try:
        first = reader.read(call, seeded.p1, False)
        ((held, _),) = reader.connections._idle
        held.connection.driver_connection.execute("DEALLOCATE ALL")  # type: ignore[union-attr]
        again = reader.read(call, seeded.p1, False)
    finally:
        reader.close()
    assert first is not None
    assert again == first


@pytest.mark.integration
def test_the_statement_keeps_a_generic_plan(hub: Hub, tokens: Tokens, seeded: Seeded) -> None:
    """Planning this statement costs more than running it: after PostgreSQL's five custom
    plans it must settle on the generic one, whatever the number of reads in a statement
    (with ``unnest`` of array parameters it never did, and every call was planned afresh)."""
    w1 = hub.verifier.verify(tokens.w1)
    reader = PersonReader(hub, keep=1)
    try:
        with reader.connections.connection() as conn:
            for n in range(12):
                fetch_persons(conn, [(w1, seeded.p1)] * (1 + n % 4))
            generic, custom = conn.exec_driver_sql(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE name = %(name)s",
                {"name": NAME.decode()},
            ).one()
    finally:
        reader.close()
    assert (generic, custom) == (7, 5)


@pytest.fixture
def store_url(pg_url: str) -> str:
    return pg_url
