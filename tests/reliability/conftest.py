"""Fixtures of the reliability suite: a store per test, a Kafka broker, a private PostgreSQL.

What can be shared is made once per session: the broker, the private cluster, a migrated
SQLite store and a migrated database on the private cluster, which each test copies.

Every test here starts real processes on loopback. The shared PostgreSQL on :5432 holds each
test's store (a fresh database) but is never restarted: a test that restarts PostgreSQL gets
a private cluster of its own (``private_pg``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.orm import Session, sessionmaker

from canonical_model.store import make_engine, session_factory, upgrade
from simulators.kafka_broker import KafkaBroker
from tests.support.private_postgres import PrivatePostgres


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite store for the whole suite; each test gets a copy."""
    path = tmp_path_factory.mktemp("reliability-sqlite") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """The test's own SQLite store: a copy of the migrated template (the same file a
    migration would give, without running the migrations again for every test)."""
    target = tmp_path / "gridhub.db"
    shutil.copyfile(sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def pg_sessions(pg_url: str) -> Iterator[sessionmaker[Session]]:
    """The test's store on the shared PostgreSQL (a fresh migrated database)."""
    engine = make_engine(pg_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    """The test's store as the embedded default keeps it: a SQLite file."""
    engine = make_engine(sqlite_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    with KafkaBroker(tmp_path_factory.mktemp("reliability-broker")) as running:
        yield running


@pytest.fixture
def live_broker(broker: KafkaBroker) -> KafkaBroker:
    if not broker.running:  # a test that stopped it failed before starting it again
        broker.start()
    return broker


@pytest.fixture(scope="session")
def private_pg() -> Iterator[PrivatePostgres]:
    """A cluster this suite may restart; its folder must be reachable by ``postgres``."""
    with PrivatePostgres(Path(tempfile.mkdtemp(prefix="gridhub-reliability-pg-"))) as pg:
        yield pg


@pytest.fixture(scope="session")
def private_template(private_pg: PrivatePostgres) -> str:
    """A migrated database on the private cluster that each test's store is cloned from."""
    if not private_pg.running:
        private_pg.start()
    engine = make_engine(private_pg.create_database("store_template"))
    upgrade(engine)
    engine.dispose()
    return "store_template"


@pytest.fixture
def private_store(
    private_pg: PrivatePostgres, private_template: str, request: pytest.FixtureRequest
) -> str:
    """A fresh migrated store on the private cluster (a clone of the template); its URL."""
    if not private_pg.running:
        private_pg.start()
    name = "store_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[-40:]
    with psycopg.connect(private_pg.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name.lower()}" TEMPLATE "{private_template}"'.encode())
    return private_pg.url(name.lower())
