"""``GetPerson``'s own statement (:mod:`grpc_api.person_sql`): times, and a lost preparation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api import Hub
from grpc_api import convert
from grpc_api.handlers import Call
from grpc_api.person_read import PersonReader, _stamp
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


@pytest.fixture
def store_url(pg_url: str) -> str:
    return pg_url
