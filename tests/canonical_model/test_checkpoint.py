"""WAL checkpoints in a thread (``canonical_model.checkpoint``): commits of the store's own
connections never checkpoint, the thread copies the log back, everything written is still
there, and the thread goes with the engine, with its file, and is its own in a forked child."""

from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from canonical_model.checkpoint import Checkpointer
from canonical_model.store import checkpointer_of, make_engine

ROWS = 600  # of 8 KiB: about 1,200 pages of log, more than SQLite's automatic 1,000


def _until(condition: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Poll; the bound is generous (a busy machine), it only stops a hang."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not {what} after {limit:.0f} s")
        time.sleep(0.05)


def _fill(engine: Engine, rows: int = ROWS) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS blob (id INTEGER PRIMARY KEY, b BLOB)"))
    for start in range(0, rows, 100):  # several commits, as writers make them
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO blob (b) VALUES (randomblob(8192))"),
                [{} for _ in range(start, min(rows, start + 100))],
            )


def _checkpointer(engine: Engine) -> Checkpointer:
    found = checkpointer_of(engine)
    assert found is not None
    return found


def _left_in_log(path: Path) -> tuple[int, int]:
    """(frames in the log, frames already copied back), asked without copying any."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_autocheckpoint=0")
        # a PASSIVE checkpoint of a log another connection just copied reports, copies nothing
        _busy, log, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return log, done
    finally:
        conn.close()


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


def test_commits_leave_the_log_and_the_thread_copies_it_back(store: Engine, tmp_path: Path) -> None:
    with store.connect() as conn:
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 0
    _fill(store)
    cp = _checkpointer(store)
    assert cp.running
    _until(lambda: cp.frames >= ROWS * 2, "copied back")
    assert cp.rounds >= 1
    log, done = _left_in_log(tmp_path / "store.db")
    assert log == done  # nothing left behind
    plain = sqlite3.connect(tmp_path / "store.db")
    try:
        assert plain.execute("SELECT count(*), sum(length(b)) FROM blob").fetchone() == (
            ROWS,
            ROWS * 8192,
        )
    finally:
        plain.close()


def test_dispose_stops_the_thread_and_a_new_connection_starts_it(store: Engine) -> None:
    _fill(store, 100)
    cp = _checkpointer(store)
    assert cp.running
    names = {t.name for t in threading.enumerate()}
    assert any(n.startswith("sqlite-checkpoint:store.db") for n in names)
    store.dispose()
    assert not cp.running
    before = cp.frames
    _fill(store, 300)
    assert cp.running
    _until(lambda: cp.frames > before, "copied back after the restart")


def test_thread_leaves_when_its_database_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    engine = make_engine(f"sqlite:///{path}")
    _fill(engine, 10)
    cp = _checkpointer(engine)
    thread = cp._thread
    assert thread is not None
    engine.pool.dispose()  # connections closed, without telling the checkpointer
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    thread.join(timeout=60)
    assert not thread.is_alive()


def test_memory_stores_have_none() -> None:
    assert checkpointer_of(make_engine("sqlite://")) is None


def _child(engine: Engine, out: mp.Queue) -> None:  # type: ignore[type-arg]
    cp = _checkpointer(engine)
    inherited = cp.running
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    out.put((inherited, cp.running, cp._pid == os.getpid()))


def test_forked_child_runs_its_own(store: Engine) -> None:
    _fill(store, 10)
    assert _checkpointer(store).running
    ctx = mp.get_context("fork")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    store.pool.dispose()  # a child must not share the parent's pooled connections
    child = ctx.Process(target=_child, args=(store, out))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert out.get(timeout=5) == (False, True, True)
