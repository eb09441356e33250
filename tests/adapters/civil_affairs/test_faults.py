"""The 民政 source misbehaving: locked, gone, mistyped, mis-encoded, or the sync killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from adapters.civil_affairs import CivilAffairsConfig, create_adapter
from adapters.contract import SourceUnavailable
from adapters.engine import load_cursor, sync_adapter, sync_stream
from simulators.civil_affairs import CivilAffairsSimulator
from tests.adapters.civil_affairs.helpers import config_for, quarantined, stored, sync

REPO = Path(__file__).resolve().parents[3]


def test_locked_database_is_retried_until_released(
    source: CivilAffairsSimulator, sqlite_sessions: sessionmaker[Session]
) -> None:
    adapter = create_adapter(config_for(source, max_retries=20))
    lock = source.lock()
    client = adapter.client  # type: ignore[attr-defined]

    def release_once_the_sync_has_met_the_lock() -> None:
        # A timer could fire before a slow machine even starts the sync; waiting for the
        # first retry makes the test about the retry, whatever the machine's load.
        while client.retries == 0:
            time.sleep(0.01)
        lock.release()

    releaser = threading.Thread(target=release_once_the_sync_has_met_the_lock, daemon=True)
    releaser.start()
    report = sync_stream(adapter, "dibao", sqlite_sessions)
    releaser.join()
    assert report.received == source.count("dibao")
    assert adapter.client.retries > 0  # type: ignore[attr-defined]
    adapter.close()


def test_locked_database_gives_up_with_a_clear_error(
    source: CivilAffairsSimulator, sqlite_sessions: sessionmaker[Session]
) -> None:
    adapter = create_adapter(config_for(source, max_retries=2))
    with source.lock():
        with pytest.raises(SourceUnavailable, match=r"after 3 attempt\(s\).*lock"):
            sync_stream(adapter, "dibao", sqlite_sessions)
        assert adapter.client.retries == 2  # type: ignore[attr-defined]
    adapter.close()
    assert load_cursor(sqlite_sessions, "civil_affairs", "dibao") == {}
    assert stored(sqlite_sessions, "dibao") == {}


def test_source_locked_midway_keeps_what_arrived_and_the_rerun_completes(
    sqlite_source: CivilAffairsSimulator, sqlite_sessions: sessionmaker[Session]
) -> None:
    adapter = create_adapter(config_for(sqlite_source, page_size=30, max_retries=1))
    locks = []

    def lock_after_first_checkpoint(_report: object) -> None:
        if not locks:
            locks.append(sqlite_source.lock())

    try:
        with pytest.raises(SourceUnavailable):
            sync_stream(
                adapter, "elderly_allowance", sqlite_sessions, checkpoint_every=40,
                progress=lock_after_first_checkpoint,
            )  # fmt: skip
    finally:
        locks[0].release()
        adapter.close()
    kept = stored(sqlite_sessions, "elderly_allowance")
    assert 40 <= len(kept) < sqlite_source.count("elderly_allowance")
    report = sync(sqlite_source, sqlite_sessions, ["elderly_allowance"])["elderly_allowance"]
    assert report.inserted == sqlite_source.count("elderly_allowance") - len(kept)
    assert len(stored(sqlite_sessions, "elderly_allowance")) == sqlite_source.count(
        "elderly_allowance"
    )


def test_unreachable_database_is_reported_and_the_sync_resumes_later(
    source: CivilAffairsSimulator, sqlite_sessions: sessionmaker[Session]
) -> None:
    adapter = create_adapter(config_for(source, max_retries=1))
    with source.offline():
        ok, error = adapter.check_connection()
        assert ok is False
        assert error
        with pytest.raises(SourceUnavailable):
            sync_adapter(adapter, sqlite_sessions)
    assert adapter.check_connection() == (True, None)
    assert sync(source, sqlite_sessions)["deaths"].received == source.count("deaths")


@pytest.mark.parametrize(
    ("connection_string", "match", "retried"),
    [
        pytest.param("Driver={SQLite3};Database=/nonexistent/dir/x.db", "connect failed", False,
                     id="sqlite-missing-file"),
        pytest.param("Driver={No Such Driver};Database=x", "open lib", False, id="no-driver"),
        pytest.param("Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=9;Database=x;Uid=x",
                     "refused", True, id="pg-closed-port", marks=pytest.mark.integration),
    ],
)  # fmt: skip
def test_wrong_connection_strings_fail_with_source_unavailable(
    connection_string: str, match: str, retried: bool, sqlite_sessions: sessionmaker[Session]
) -> None:
    config = CivilAffairsConfig(connection_string=connection_string, backoff_s=0.01, max_retries=2)
    adapter = create_adapter(config)
    ok, error = adapter.check_connection()
    assert ok is False
    assert error
    assert match in error.lower()
    with pytest.raises(SourceUnavailable, match=match):
        sync_stream(adapter, "dibao", sqlite_sessions)
    assert (adapter.client.retries > 0) is retried  # type: ignore[attr-defined]
    assert not Path("/nonexistent/dir/x.db").exists()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in held:
        conn.close()


def test_a_server_that_never_answers_times_out(silent_server: int) -> None:
    text = f"Driver={{PostgreSQL Unicode}};Server=127.0.0.1;Port={silent_server};Database=x;Uid=x"
    adapter = create_adapter(
        CivilAffairsConfig(connection_string=text, connect_timeout_s=1, max_retries=1, backoff_s=0)
    )
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match="timeout"):
        list(adapter.stream("dibao").extract({}))
    assert 1.5 < time.monotonic() - started < 6


def test_missing_table_is_reported_by_check_connection(
    sqlite_source: CivilAffairsSimulator,
) -> None:
    import sqlite3

    with sqlite3.connect(sqlite_source.db.path) as conn:  # type: ignore[attr-defined]
        conn.execute("DROP TABLE tekun")
    ok, error = create_adapter(config_for(sqlite_source)).check_connection()
    assert ok is False
    assert error is not None
    assert "tekun" in error


def test_wrong_encoding_is_quarantined_with_its_bytes_and_released_when_fixed(
    sqlite_source: CivilAffairsSimulator, sqlite_sessions: sessionmaker[Session]
) -> None:
    cut = sqlite_source.corrupt_encoding(2, "disability", ids=[3, 9])
    utf8 = sqlite_source.corrupt_encoding(2, "disability", utf8=True, ids=[4, 17])
    report = sync(sqlite_source, sqlite_sessions, ["disability"])["disability"]
    assert report.quarantined == 4
    assert report.stored == sqlite_source.count("disability") - 4
    entries = quarantined(sqlite_sessions, "disability")
    assert (
        sorted(e.reason_code for e in entries)
        == ["encoding.invalid"] * 2 + ["encoding.mismatch"] * 2
    )
    assert all(e.reason.startswith("column name:") for e in entries)
    assert all(b'"hex":' in e.raw for e in entries)
    # The clerk re-types the names; the next run stores the rows and closes the entries.
    for row_id in cut + utf8:
        sqlite_source.db.update("disability", row_id, {"name": "周建华"})
    sqlite_source.touch(0, "disability", ids=cut + utf8, bump_only=True)
    sync(sqlite_source, sqlite_sessions, ["disability"])
    assert {e.status for e in quarantined(sqlite_sessions, "disability")} == {"released"}
    assert len(stored(sqlite_sessions, "disability")) == sqlite_source.count("disability")


CHILD = """
import sys, time
from pathlib import Path
from adapters.civil_affairs import CivilAffairsConfig, create_adapter
from adapters.civil_affairs.streams import CivilAffairsStream
from adapters.engine import sync_adapter
from canonical_model.store import make_engine, session_factory

store_url, connection, marker = sys.argv[1], sys.argv[2], sys.argv[3]
mapped = [0]
original = CivilAffairsStream.map

def slow_map(self, item):
    mapped[0] += 1
    if mapped[0] == 75:
        Path(marker).touch()  # the parent kill -9s us here, mid-way through checkpoint 2
        time.sleep(60)
    return original(self, item)

CivilAffairsStream.map = slow_map
adapter = create_adapter(CivilAffairsConfig(connection_string=connection, page_size=40))
sync_adapter(adapter, session_factory(make_engine(store_url)), streams=["elderly_allowance"],
             checkpoint_every=50)
"""


def test_kill_9_mid_checkpoint_loses_and_duplicates_nothing(
    sqlite_source: CivilAffairsSimulator,
    store_url: str,
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    """The crash matters on the store's side: the source only answers reads."""
    source = sqlite_source
    marker = tmp_path / "blocked"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, store_url, source.connection_string, str(marker)], cwd=REPO
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, "the sync ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    # Exactly the first checkpoint is stored, and the cursor names its last record.
    kept = stored(sessions, "elderly_allowance")
    cursor = load_cursor(sessions, "civil_affairs", "elderly_allowance")
    assert len(kept) == 50
    rows = source.rows("elderly_allowance", ("id", "case_no", "updated_at"))
    order = sorted(rows, key=lambda r: (str(r["updated_at"]), r["id"]))
    assert set(kept) == {r["case_no"] for r in order[:50]}
    assert (order[49]["id"], str(order[49]["updated_at"])) == (
        cursor["id"],
        str(cursor["updated_at"]).replace("T", " "),
    )

    report = sync(source, sessions, ["elderly_allowance"])["elderly_allowance"]
    after = stored(sessions, "elderly_allowance")
    assert sorted(after) == sorted(r["case_no"] for r in rows)
    assert report.inserted == len(rows) - 50
    assert all(r.version == 1 for r in after.values())
    assert quarantined(sessions, "elderly_allowance") == []
