"""A read that failed after its entry was queued: the entry says ``not_sent``, honestly.

And the PostgreSQL flusher (its own held connection, COPY) survives losing that connection.
"""

from __future__ import annotations

import threading

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from audit import KeySet, verify_store
from audit.buffered import BufferedAppender
from canonical_model import ExchangeLogEntry
from canonical_model.store import make_engine, session_factory
from tests.audit.test_buffered import read_entry


def results(sessions: sessionmaker[Session]) -> list[tuple[str | None, str]]:
    with sessions() as s:
        rows = s.execute(
            select(ExchangeLogEntry.correlation_id, ExchangeLogEntry.result).order_by(
                ExchangeLogEntry.seq
            )
        ).all()
    return [(r[0], r[1]) for r in rows]


def verified(sessions: sessionmaker[Session], keys: KeySet) -> None:
    with sessions() as s:
        report = verify_store(s, keys)
    assert report.ok, report.findings


def test_a_queued_entry_is_corrected_in_place(
    sessions: sessionmaker[Session], keys: KeySet
) -> None:
    log = BufferedAppender(sessions, max_delay=30.0, max_batch=100, max_pending=1000)
    log.submit(read_entry(1))
    log.submit(read_entry(2))
    assert log.amend_last("req-2", "not_sent") is True
    log.close(timeout=60)
    assert results(sessions) == [("req-1", "ok"), ("req-2", "not_sent")]
    verified(sessions, keys)


def test_a_written_entry_gets_a_follow_up_with_the_same_correlation_id(
    sessions: sessionmaker[Session], keys: KeySet
) -> None:
    log = BufferedAppender(sessions, max_delay=30.0, max_batch=100, max_pending=1000)
    log.submit(read_entry(1))
    log.flush(timeout=60)
    assert log.amend_last("req-1", "not_sent") is True
    log.close(timeout=60)
    assert results(sessions) == [("req-1", "ok"), ("req-1", "not_sent")]
    verified(sessions, keys)


def test_only_this_threads_own_request_is_amended(sessions: sessionmaker[Session]) -> None:
    log = BufferedAppender(sessions, max_delay=30.0, max_batch=100, max_pending=1000)
    log.submit(read_entry(1))
    assert log.amend_last("req-other", "not_sent") is False  # not this request's entry
    seen: list[bool] = []
    other = threading.Thread(target=lambda: seen.append(log.amend_last("req-1", "not_sent")))
    other.start()
    other.join()
    assert seen == [False]  # another thread cannot touch it either
    assert log.amend_last("req-1", "not_sent") is True
    assert log.amend_last("req-1", "not_sent") is False  # once
    log.close(timeout=60)
    assert results(sessions) == [("req-1", "not_sent")]


def test_an_amended_result_is_checked_like_any_entry(sessions: sessionmaker[Session]) -> None:
    log = BufferedAppender(sessions, max_delay=30.0, max_batch=100, max_pending=1000)
    log.submit(read_entry(1))
    with pytest.raises(ValueError):
        log.amend_last("req-1", "x" * 31)  # longer than the column
    log.close(timeout=60)
    assert results(sessions) == [("req-1", "ok")]


def test_the_postgresql_flusher_reconnects_after_losing_its_connection(
    pg_url: str, keys: KeySet
) -> None:
    """PostgreSQL only: the held connection and COPY are that store's path."""
    engine = make_engine(pg_url)
    sessions = session_factory(engine)
    log = BufferedAppender(sessions, max_delay=30.0, max_batch=100, max_pending=1000, retry=0.05)
    log.submit(read_entry(1))
    log.flush(timeout=60)
    held = log._raw.driver_connection  # the flusher keeps it between batches
    url = engine.url
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (held.info.backend_pid,))
    log.submit(read_entry(2))
    log.flush(timeout=60)
    log.close(timeout=60)
    assert results(sessions) == [("req-1", "ok"), ("req-2", "ok")]
    verified(sessions, keys)
    engine.dispose()
