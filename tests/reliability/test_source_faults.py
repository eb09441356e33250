"""Each source down, slow or failing, seen by ``gridhub sync`` as a district runs it.

Down (connection refused, broker stopped, database gone, inbox missing): a clear error, exit
2, the cursor where it was; the next run completes. Slow (answers after the client's timeout)
and failing (HTTP 5xx, SOAP Server faults, FHIR OperationOutcomes) for a few requests: retried
with back-off, the run succeeds. Failing for good half-way: a clear error, what arrived
before is kept and the cursor names exactly it; the next run completes. Every test ends with
the accounting.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import SourceRecord
from simulators.health import HealthSimulator
from simulators.hukou import HukouSimulator
from simulators.kafka_broker import KafkaBroker
from tests.reliability.accounting import account
from tests.reliability.harness import (
    RUN_TIMEOUT_S,
    hub_env,
    run_sync,
    start_sync,
    sync_state,
    wait_for,
)
from tests.reliability.sources import (
    civil_affairs_case,
    health_case,
    hotline_case,
    hukou_case,
    utility_case,
)

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


def _refused_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stored(sessions: sessionmaker[Session], source: str) -> int:
    with sessions() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(SourceRecord).where(SourceRecord.source == source)
            )
            or 0
        )


def _assert_clear_failure(done: object, source: str) -> None:
    returncode, stderr = done.returncode, done.stderr  # type: ignore[attr-defined]
    assert returncode == 2, f"expected exit 2 (source unavailable), got {returncode}"
    assert f"{source}: source unavailable:" in stderr
    assert "Traceback" not in stderr


def _assert_untouched(sessions: sessionmaker[Session], source: str, stream: str) -> None:
    state = sync_state(sessions, source, stream)
    assert state is None or (state.cursor == {} and state.records_seen == 0)
    assert _stored(sessions, source) == 0


def test_hukou_down_failing_and_slow(
    sqlite_url: str, sqlite_store: sessionmaker[Session], tmp_path: Path
) -> None:
    with hukou_case() as case:
        sim: HukouSimulator = case.sim
        var = tmp_path / "var"
        # Down: nothing listens where the service should be.
        dead = {**case.settings, "service_url": f"http://127.0.0.1:{_refused_port()}/hukou"}
        done = run_sync("hukou", hub_env(sqlite_url, var, checkpoint_every=25, hukou=dead))
        _assert_clear_failure(done, "hukou")
        _assert_untouched(sqlite_store, "hukou", "persons")

        env = hub_env(sqlite_url, var, checkpoint_every=25, hukou=case.settings)
        # Failing for good from the third page on (50 persons a page): the first two stay.
        sim.inject("http_500", times=100, page=3)
        done = run_sync("hukou", env)
        _assert_clear_failure(done, "hukou")
        state = sync_state(sqlite_store, "hukou", "persons")
        assert state is not None
        assert state.records_seen == 100
        feed = sim.snapshot()
        assert state.cursor == {"since": feed[99]["updatedAt"], "last_id": feed[99]["idNumber"]}
        assert _stored(sqlite_store, "hukou") == 100
        sim.clear_faults()

        # Slow and failing now and then: each page's trouble is within the retries.
        sim.inject("delay", times=2, page=1, delay_s=3.0)  # beyond the 2 s timeout, twice
        sim.inject("http_503", times=2, page=2)
        sim.inject("soap_fault", times=1, page=3, fault_code="Server")
        sim.inject("disconnect", times=1, page=4)
        fired = sim.stats()["faults"]
        done = run_sync("hukou", env)
        assert done.returncode == 0, done.stderr[-2000:]
        stats = sim.stats()
        assert stats["pending_faults"] == []
        assert stats["faults"] - fired == 6
        account(sqlite_store, "hukou", case.expected(), label="hukou faults").assert_balanced()


def test_health_down_failing_and_slow(
    sqlite_url: str, sqlite_store: sessionmaker[Session], tmp_path: Path
) -> None:
    with health_case() as case:
        sim: HealthSimulator = case.sim
        var = tmp_path / "var"
        dead = {**case.settings, "base_url": f"http://127.0.0.1:{_refused_port()}/fhir"}
        done = run_sync("health", hub_env(sqlite_url, var, checkpoint_every=10, health=dead))
        _assert_clear_failure(done, "health")
        _assert_untouched(sqlite_store, "health", "patients")

        env = hub_env(sqlite_url, var, checkpoint_every=10, health=case.settings)
        # A gateway failing for good on the second page of Patients (20 a page).
        sim.inject("http_error", times=100, resource="Patient", page=2, status=502)
        done = run_sync("health", env)
        _assert_clear_failure(done, "health")
        assert _stored(sqlite_store, "health") > 0  # the first page is kept
        state = sync_state(sqlite_store, "health", "patients")
        assert state is not None
        assert state.cursor == {}
        sim.clear_faults()

        sim.inject("delay", times=1, resource="Patient", page=1, delay_s=3.0)
        sim.inject("http_error", times=2, resource="Patient", page=2, status=503)
        sim.inject("operation_outcome", times=2, resource="Observation", page=1, status=500)
        sim.inject("disconnect", times=1, resource="Encounter", page=1)
        fired = sim.stats()["faults"]
        done = run_sync("health", env)
        assert done.returncode == 0, done.stderr[-2000:]
        stats = sim.stats()
        assert stats["pending_faults"] == []
        assert stats["faults"] - fired == 6
        account(sqlite_store, "health", case.expected(), label="health faults").assert_balanced()


def test_civil_affairs_gone_then_locked(
    sqlite_url: str, sqlite_store: sessionmaker[Session], tmp_path: Path
) -> None:
    with civil_affairs_case(tmp_path) as case:
        sim = case.sim
        env = hub_env(
            sqlite_url, tmp_path / "var", checkpoint_every=10, civil_affairs=case.settings
        )
        with sim.offline():  # the database file is not where it should be
            done = run_sync("civil_affairs", env)
        _assert_clear_failure(done, "civil_affairs")
        _assert_untouched(sqlite_store, "civil_affairs", case.stream)

        # Slow: a clerk's job holds the database locked; the sync waits it out, retrying.
        patient = {**case.settings, "max_retries": 20, "max_backoff_s": 0.1}
        log = tmp_path / "hub.log"
        with sim.lock():
            hub = start_sync(
                "civil_affairs",
                hub_env(sqlite_url, tmp_path / "var", checkpoint_every=10, civil_affairs=patient),
                log,
            )
            try:
                wait_for(lambda: "retrying" in log.read_text(errors="replace"), 60, "a retry")
            except AssertionError:
                hub.kill()
                raise
        assert hub.wait(RUN_TIMEOUT_S) == 0, log.read_text(errors="replace")[-2000:]
        print(log.read_text(errors="replace")[-600:])
        account(
            sqlite_store, "civil_affairs", case.expected(), label="civil_affairs faults"
        ).assert_balanced()


def test_hotline_broker_down_then_back(
    sqlite_url: str,
    sqlite_store: sessionmaker[Session],
    tmp_path: Path,
    live_broker: KafkaBroker,
) -> None:
    with hotline_case(live_broker) as case:
        quick = {**case.settings, "unavailable_after_s": 3, "connect_timeout_s": 2}
        env = hub_env(sqlite_url, tmp_path / "var", checkpoint_every=25, hotline=quick)
        live_broker.stop_broker()
        try:
            done = run_sync("hotline", env)
        finally:
            live_broker.start()
        _assert_clear_failure(done, "hotline")
        _assert_untouched(sqlite_store, "hotline", "work_orders")
        done = run_sync("hotline", env)
        assert done.returncode == 0, done.stderr[-2000:]
        account(sqlite_store, "hotline", case.expected(), label="hotline down").assert_balanced()


def test_utility_inbox_missing_then_back(
    sqlite_url: str, sqlite_store: sessionmaker[Session], tmp_path: Path
) -> None:
    with utility_case(tmp_path) as case:
        env = hub_env(sqlite_url, tmp_path / "var", checkpoint_every=25, utility=case.settings)
        inbox = Path(case.settings["inbox"])
        away = inbox.with_name("inbox.unmounted")
        inbox.rename(away)  # the SFTP drop is not mounted
        try:
            done = run_sync("utility", env)
        finally:
            away.rename(inbox)
        _assert_clear_failure(done, "utility")
        _assert_untouched(sqlite_store, "utility", "accounts")
        assert all(Path(f).exists() for f in case.extra["files"])  # nothing moved
        done = run_sync("utility", env)
        assert done.returncode == 0, done.stderr[-2000:]
        account(sqlite_store, "utility", case.expected(), label="utility down").assert_balanced()
