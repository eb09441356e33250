"""``api.held``: how many plain reads run on PostgreSQL at once; every read gives its slot back."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from api import ApiConfig, Hub
from api.held import HeldConnections, held, release
from canonical_model.store import make_engine
from gridhub.settings import Settings
from grpc_api.person_read import PersonReader

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url, pool_size=8, max_overflow=8)
    yield engine
    release(engine)
    engine.dispose()


def _most_at_once(connections: HeldConnections, readers: int) -> int:
    """Run ``readers`` reads of 50 ms each from as many threads; the most that were running on
    the server at the same moment, as PostgreSQL itself counts them."""
    start = threading.Barrier(readers)
    lock = threading.Lock()
    running = 0
    most = 0
    failures: list[BaseException] = []

    def read() -> None:
        nonlocal running, most
        try:
            start.wait(timeout=10)
            with connections.connection() as conn:
                with lock:
                    running += 1
                    most = max(most, running)
                conn.execute(text("SELECT pg_sleep(0.05)"))
                with lock:
                    running -= 1
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=read) for _ in range(readers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a reader never got its turn"
    assert not failures, failures
    return most


def test_no_more_reads_than_active_run_at_once(pg_engine: Engine) -> None:
    assert _most_at_once(HeldConnections(pg_engine, active=2), readers=6) == 2


def test_without_a_bound_the_reads_all_run_at_once(pg_engine: Engine) -> None:
    """The measurement above can see more than two: unbounded, six readers overlap."""
    assert _most_at_once(HeldConnections(pg_engine), readers=6) > 2


def test_a_failed_read_gives_its_slot_back(pg_engine: Engine) -> None:
    connections = HeldConnections(pg_engine, active=1)
    with pytest.raises(Exception, match="division by zero"), connections.connection() as conn:
        conn.execute(text("SELECT 1 / 0"))
    done = threading.Event()

    def read() -> None:
        with connections.connection() as conn:
            conn.execute(text("SELECT 1"))
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(timeout=10), "the failed read kept the only slot"


def test_the_hub_bounds_rest_and_grpc_reads_as_configured(pg_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=pg_url, var_dir=tmp_path / "var")
    hub = Hub.from_settings(settings, ApiConfig(db_active_reads=3))
    try:
        engine = hub.sessions.kw["bind"]
        assert held(engine).active == 3  # REST's plain reads (person, search)
        reader = PersonReader(hub)  # gRPC's GetPerson
        assert reader.connections.active == 3
        reader.close()
    finally:
        hub.close()
        engine.dispose()
