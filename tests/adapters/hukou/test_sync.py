"""Syncing the 户籍 simulator into the canonical store, on SQLite and PostgreSQL: everything
once, bad IDs quarantined, changes versioned, and no loss across failures and kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.contract import Extracted, SourceUnavailable, SyncReport
from adapters.engine import load_cursor, sync_adapter, sync_stream
from adapters.hukou import create_adapter
from adapters.hukou.mapping import map_person
from canonical_model import (
    ExchangeLogEntry,
    Quarantine,
    SourceRecord,
    SourceRecordHistory,
    SyncState,
)
from canonical_model.values import upgrade_legacy
from simulators.hukou import HukouSimulator
from tests.adapters.hukou.conftest import PERSONS
from tests.adapters.hukou.helpers import (
    config_for,
    count,
    feed_key,
    person,
    valid_id,
    wrong_check_digit,
)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
CHECKPOINT = 120  # deliberately not a multiple of the page size (100)


def sync(sim: HukouSimulator, sessions: sessionmaker[Session], **config: object) -> SyncReport:
    adapter = create_adapter(config_for(sim, **config))
    return sync_adapter(adapter, sessions, checkpoint_every=CHECKPOINT)[0]


def stored(sessions: sessionmaker[Session]) -> dict[str, tuple[int, dict[str, object]]]:
    with sessions() as s:
        rows = s.execute(
            select(SourceRecord.source_key, SourceRecord.version, SourceRecord.canonical)
        )
        return {key: (version, canonical) for key, version, canonical in rows}


def test_first_sync_stores_every_registration_once(
    sim: HukouSimulator, sessions: sessionmaker[Session]
) -> None:
    report = sync(sim, sessions)
    feed = sim.snapshot()
    records = stored(sessions)
    assert (report.received, report.inserted, report.quarantined) == (PERSONS, PERSONS, 0)
    assert set(records) == {p["idNumber"].strip() for p in feed}
    assert {version for version, _ in records.values()} == {1}
    legacy = [key for key in records if len(key) == 15]
    assert legacy, "the district's register should hold some first-generation numbers"
    for key in legacy:
        assert records[key][1]["resident_id"] == upgrade_legacy(key)
    # The cursor names the last record of the feed, verbatim.
    assert load_cursor(sessions, "hukou", "persons") == {
        "since": feed[-1]["updatedAt"],
        "last_id": feed[-1]["idNumber"],
    }
    assert count(sessions, ExchangeLogEntry) == report.checkpoints == -(-PERSONS // CHECKPOINT)


def test_incremental_sync_sees_exactly_the_changed_persons(
    sim: HukouSimulator, sessions: sessionmaker[Session]
) -> None:
    sync(sim, sessions)
    quiet = sync(sim, sessions)
    assert (quiet.received, quiet.checkpoints) == (0, 0)
    changed = {key.strip() for key in sim.touch(17)}
    report = sync(sim, sessions)
    assert (report.received, report.updated, report.inserted, report.unchanged) == (17, 17, 0, 0)
    records = stored(sessions)
    assert {k for k, (version, _) in records.items() if version == 2} == changed
    with sessions() as s:
        history = s.scalar(select(func.count()).select_from(SourceRecordHistory))
        old_versions = set(s.scalars(select(SourceRecordHistory.version)))
    assert history == 17
    assert old_versions == {1}  # what the register said before is kept


def test_an_invalid_resident_id_is_quarantined_and_the_rest_stored(
    sim: HukouSimulator, sessions: sessionmaker[Session]
) -> None:
    bad = wrong_check_digit(valid_id(born="19770502", seq=8))
    sim.put(person(bad))
    report = sync(sim, sessions)
    assert (report.received, report.inserted, report.quarantined) == (PERSONS + 1, PERSONS, 1)
    with sessions() as s:
        q = s.scalars(select(Quarantine)).one()
    assert (q.source, q.stream, q.source_key, q.reason_code) == (
        "hukou",
        "persons",
        bad,
        "resident_id.check_digit",
    )
    assert bad.encode() in q.raw  # kept whole, for the registry office to fix
    assert bad not in q.reason
    assert bad not in stored(sessions)
    again = sync(sim, sessions)  # a re-delivered bad record is not quarantined twice
    assert again.received == 0
    assert count(sessions, Quarantine) == 1


def test_a_failing_page_stops_the_sync_and_a_rerun_resumes_inside_a_tie_group(
    sim: HukouSimulator, sessions: sessionmaker[Session]
) -> None:
    feed = sim.snapshot()
    # The register's 2022 migration stamped many rows with one instant: pages 1-2 share it,
    # so a cursor holding only updatedAt would skip the rest of the group on resume.
    assert len({p["updatedAt"] for p in feed[:150]}) == 1
    sim.inject("http_503", times=100, page=2)
    with pytest.raises(SourceUnavailable):
        sync(sim, sessions, max_retries=1)
    assert len(stored(sessions)) == 100  # page 1, committed before the error was raised
    assert load_cursor(sessions, "hukou", "persons") == {
        "since": feed[99]["updatedAt"],
        "last_id": feed[99]["idNumber"],
    }
    sim.clear_faults()
    report = sync(sim, sessions)
    assert report.received == PERSONS - 100
    records = stored(sessions)
    assert set(records) == {p["idNumber"].strip() for p in feed}
    assert {version for version, _ in records.values()} == {1}
    assert count(sessions, SourceRecordHistory) == 0


def test_mapping_in_a_worker_stores_exactly_what_inline_mapping_would(
    sim: HukouSimulator, sessions: sessionmaker[Session]
) -> None:
    bad = wrong_check_digit(valid_id(born="19880808", seq=2))
    sim.put(person(bad))
    adapter = create_adapter(config_for(sim, page_size=250, map_workers=1))
    try:
        report = sync_stream(adapter, "persons", sessions, checkpoint_every=CHECKPOINT)
        assert adapter.mapper._pool is not None  # the pages really went to the worker
    finally:
        adapter.close()
    assert (report.received, report.inserted, report.quarantined) == (PERSONS + 1, PERSONS, 1)
    with sessions() as s:
        rows = s.execute(select(SourceRecord.payload, SourceRecord.canonical)).all()
        reason = s.scalar(select(Quarantine.reason_code))
    assert reason == "resident_id.check_digit"
    for payload, canonical in rows:
        inline = map_person(Extracted(raw=payload, cursor={}))
        assert canonical == inline.canonical


CHILD = """
import os, sys
from adapters.engine import sync_stream
from adapters.hukou import HukouConfig, create_adapter
from canonical_model.store import make_engine, session_factory
sessions = session_factory(make_engine(sys.argv[1]))
config = HukouConfig.model_validate_json(os.environ["HUKOU_TEST_CONFIG"])
sync_stream(create_adapter(config), "persons", sessions, checkpoint_every=int(sys.argv[2]))
"""


def test_kill_9_mid_sync_loses_and_duplicates_nothing(
    sim: HukouSimulator, store_url: str, sessions: sessionmaker[Session]
) -> None:
    every, page_size = 70, 200  # pages this large are mapped by the worker process
    config = config_for(sim, page_size=page_size, map_workers=1).model_dump(mode="json")
    config["password"] = sim.password
    env = {**os.environ, "HUKOU_TEST_CONFIG": __import__("json").dumps(config)}
    sim.inject("delay", times=1000, delay_s=0.15)  # every page is slow: kill lands mid-sync
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, store_url, str(every)], cwd=REPO, env=env
    )
    deadline = time.monotonic() + 60
    seen = 0
    while seen < every and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.02)
        with sessions() as s:
            seen = s.scalar(select(SyncState.records_seen)) or 0
    workers = psutil.Process(child.pid).children()
    assert workers, "the sync should be mapping in a worker process"
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(30) == -signal.SIGKILL
    sim.clear_faults()
    _, alive = psutil.wait_procs(workers, timeout=5)
    assert alive == []  # the worker noticed its parent died and left

    # Only whole checkpoints survived, and the cursor names exactly their last record:
    # everything at or before it is stored, nothing after it is.
    cursor = load_cursor(sessions, "hukou", "persons")
    feed = sim.snapshot()
    before = {p["idNumber"].strip() for p in feed if feed_key(p) <= feed_key(cursor)}
    after_kill = set(stored(sessions))
    assert after_kill == before
    assert len(after_kill) % every == 0
    assert 0 < len(after_kill) < PERSONS
    assert len(after_kill) % page_size != 0  # the cursor points into a partly stored page

    # The re-run is the same code path; it need not pay for another interpreter.
    resumed = sync_adapter(
        create_adapter(config_for(sim, page_size=page_size)), sessions, checkpoint_every=every
    )[0]
    assert resumed.received == PERSONS - len(after_kill)
    records = stored(sessions)
    assert set(records) == {p["idNumber"].strip() for p in feed}  # nothing lost
    assert {version for version, _ in records.values()} == {1}  # nothing stored twice
    with sessions() as s:
        logged = s.scalar(select(func.sum(ExchangeLogEntry.record_count)))
    assert logged == PERSONS  # the checkpoint in flight at the kill was never logged
