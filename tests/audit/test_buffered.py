"""Group-committed read entries land, chain, verify; a failing log refuses reads; exit flushes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from audit import KeySet, append, checkpoint, verify_store
from audit.buffered import BufferedAppender, LogUnavailable
from audit.signing import FileSigner
from canonical_model import ExchangeLogEntry

REPO = Path(__file__).resolve().parents[2]


def read_entry(i: int, actor: str = "W1") -> dict[str, Any]:
    return {
        "direction": "read",
        "counterpart": "rest",
        "actor_subject": actor,
        "actor_role": "grid_worker",
        "purpose": "welfare_visit" if i % 2 else None,
        "operation": "person.get",
        "object_refs": {"persons": [f"P{i:05d}"], "fields": ["name", "phone"], "clear": False},
        "record_count": 1,
        "correlation_id": f"req-{i}",
    }


def stored(sessions: sessionmaker[Session]) -> list[tuple[int, str, str | None]]:
    with sessions() as s:
        rows = s.execute(
            select(
                ExchangeLogEntry.seq,
                ExchangeLogEntry.actor_subject,
                ExchangeLogEntry.correlation_id,
            ).order_by(ExchangeLogEntry.seq)
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def test_queued_entries_land_in_order_chain_and_verify(
    sessions: sessionmaker[Session], signer: FileSigner, keys: KeySet
) -> None:
    log = BufferedAppender(sessions, max_delay=10.0, max_batch=7, max_pending=50)
    for i in range(20):
        log.submit(read_entry(i))
    log.flush(timeout=60)  # well before max_delay: flush forces the batches out
    with sessions() as s, s.begin():
        append(s, **{**read_entry(99), "direction": "admin", "operation": "rules.change"})
        checkpoint(s, signer)
    log.submit(read_entry(20))
    log.close(timeout=60)
    rows = stored(sessions)
    assert [seq for seq, _, _ in rows] == list(range(1, 23))
    order = [corr for _, _, corr in rows]
    assert order == [f"req-{i}" for i in range(20)] + ["req-99", "req-20"]
    with sessions() as s:
        report = verify_store(s, keys)
    assert report.ok, report.findings
    assert report.checkpoints == 1


def test_the_batch_goes_out_by_itself_within_max_delay(sessions: sessionmaker[Session]) -> None:
    log = BufferedAppender(sessions, max_delay=0.05, max_batch=100, max_pending=1000)
    log.submit(read_entry(1))
    deadline = threading.Event()
    for _ in range(600):  # no flush(): the flusher's own clock must write it
        if log.pending == 0 and stored(sessions):
            break
        deadline.wait(0.05)
    assert [corr for _, _, corr in stored(sessions)] == ["req-1"]
    log.close()


def test_an_invalid_entry_is_refused_at_submit_and_nothing_is_queued(
    sessions: sessionmaker[Session],
) -> None:
    log = BufferedAppender(sessions, max_delay=10.0)
    with pytest.raises(ValueError):
        log.submit({**read_entry(1), "object_refs": {"score": 0.5}})  # floats do not hash stably
    with pytest.raises(ValueError):
        log.submit({**read_entry(1), "counterpart": ""})
    assert log.pending == 0
    log.close()
    assert stored(sessions) == []


def test_many_threads_submitting_make_one_gapless_chain(
    sessions: sessionmaker[Session], keys: KeySet
) -> None:
    log = BufferedAppender(sessions, max_delay=0.01, max_batch=25, max_pending=10_000)

    def reader(t: int) -> None:
        for i in range(60):
            log.submit(read_entry(i, f"W{t}"))

    threads = [threading.Thread(target=reader, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close(timeout=120)
    rows = stored(sessions)
    assert [seq for seq, _, _ in rows] == list(range(1, 361))
    assert sorted({actor for _, actor, _ in rows}) == [f"W{t}" for t in range(6)]
    with sessions() as s:
        report = verify_store(s, keys)
    assert report.ok, report.findings


class Flaky:
    """A session factory whose sessions fail to write while ``broken`` is set."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.broken = threading.Event()

    def __call__(self) -> Session:
        if self.broken.is_set():
            raise ConnectionError("database unreachable")
        return self.sessions()


def test_a_failing_log_refuses_reads_keeps_its_entries_and_recovers(
    sessions: sessionmaker[Session], keys: KeySet
) -> None:
    flaky = Flaky(sessions)
    flaky.broken.set()
    log = BufferedAppender(flaky, max_delay=0.0, max_batch=10, max_pending=100, retry=0.05)
    log.submit(read_entry(1))
    with pytest.raises(LogUnavailable):
        log.flush(timeout=10)
    with pytest.raises(LogUnavailable):  # fail closed: no further read may be served
        log.submit(read_entry(2))
    assert log.pending == 1
    flaky.broken.clear()
    for _ in range(200):
        try:
            log.submit(read_entry(3))
            break
        except LogUnavailable:
            threading.Event().wait(0.05)
    log.close(timeout=60)
    assert [corr for _, _, corr in stored(sessions)] == ["req-1", "req-3"]
    with sessions() as s:
        assert verify_store(s, keys).ok


def test_a_full_queue_refuses_rather_than_grows(sessions: sessionmaker[Session]) -> None:
    flaky = Flaky(sessions)
    gate = threading.Lock()
    gate.acquire()

    def slow() -> Session:
        with gate:  # the flusher is stuck until released
            return flaky()

    log = BufferedAppender(slow, max_delay=10.0, max_batch=2, max_pending=4, block=0.2)
    for i in range(4):
        log.submit(read_entry(i))
    with pytest.raises(LogUnavailable):
        log.submit(read_entry(4))
    gate.release()
    log.close(timeout=60)
    assert log.pending == 0
    written = [corr for _, _, corr in stored(sessions)]
    assert written[:4] == [f"req-{i}" for i in range(4)]


def test_closed_log_refuses_and_close_is_idempotent(sessions: sessionmaker[Session]) -> None:
    log = BufferedAppender(sessions, max_delay=10.0)
    log.submit(read_entry(1))
    log.close()
    log.close()
    with pytest.raises(LogUnavailable):
        log.submit(read_entry(2))
    assert [corr for _, _, corr in stored(sessions)] == ["req-1"]


def test_a_clean_exit_without_close_still_lands_the_queue(
    store_url: str, sessions: sessionmaker[Session], keys: KeySet
) -> None:
    """The process queues entries with a long delay and simply exits: atexit flushes."""
    script = (
        "import sys\n"
        "from canonical_model.store import make_engine, session_factory\n"
        "from audit.buffered import BufferedAppender\n"
        "from tests.audit.test_buffered import read_entry\n"
        "log = BufferedAppender(session_factory(make_engine(sys.argv[1])), max_delay=3600)\n"
        "for i in range(25):\n"
        "    log.submit(read_entry(i))\n"
        "print(log.pending)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, store_url],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "25"  # still queued when the script ended
    assert [corr for _, _, corr in stored(sessions)] == [f"req-{i}" for i in range(25)]
    with sessions() as s:
        assert verify_store(s, keys).ok
