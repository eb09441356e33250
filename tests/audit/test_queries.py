"""Auditor queries: who touched a person's data, what an actor did, what went to a system."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from audit import by_actor, by_counterpart, in_window, who_accessed
from tests.audit.helpers import PERSON_A, PERSON_B, T0, entry_kwargs, fill


def test_who_accessed_a_person_when_and_why(sessions: sessionmaker[Session]) -> None:
    fill(sessions, 30)
    with sessions() as s:
        rows = who_accessed(s, PERSON_A)
        b_rows = who_accessed(s, PERSON_B)
        nobody = who_accessed(s, "01JNOBODY")
        prefix = who_accessed(s, PERSON_A[:10])  # ids match whole, never by prefix
    assert [r.seq for r in rows] == list(range(3, 31, 3))
    assert [r.seq for r in b_rows] == [5, 10, 15, 20, 25, 30]
    assert nobody == []
    assert prefix == []
    first = rows[0]
    expected = entry_kwargs(3)
    assert first.at == T0 + timedelta(minutes=3)
    assert (first.actor_subject, first.purpose, first.operation, first.direction) == (
        expected["actor_subject"],
        expected["purpose"],
        expected["operation"],
        expected["direction"],
    )
    assert first.as_dict()["at"].startswith("2026-03-01T01:03")


def test_time_window_and_keyset_paging(sessions: sessionmaker[Session]) -> None:
    fill(sessions, 30)
    with sessions() as s:
        windowed = who_accessed(
            s, PERSON_A, since=T0 + timedelta(minutes=6), until=T0 + timedelta(minutes=15)
        )
        page1 = who_accessed(s, PERSON_A, limit=4)
        page2 = who_accessed(s, PERSON_A, limit=4, after_seq=page1[-1].seq)
        everything = in_window(s, T0 + timedelta(minutes=10), T0 + timedelta(minutes=12))
    assert [r.seq for r in windowed] == [6, 9, 12]
    assert [r.seq for r in page1] == [3, 6, 9, 12]
    assert [r.seq for r in page2] == [15, 18, 21, 24]
    assert [r.seq for r in everything] == [10, 11]


def test_by_actor_and_by_counterpart(sessions: sessionmaker[Session]) -> None:
    fill(sessions, 30)
    with sessions() as s:
        actor = by_actor(s, "worker-3")
        hukou = by_counterpart(s, "hukou", since=T0 + timedelta(minutes=10))
    assert [r.seq for r in actor] == [3, 10, 17, 24]
    assert {r.actor_subject for r in actor} == {"worker-3"}
    assert [r.seq for r in hukou] == [13, 17, 21, 25, 29]
    assert {r.counterpart for r in hukou} == {"hukou"}
