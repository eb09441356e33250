"""A civil-affairs database per test, on each ODBC driver, restored from one built per session.

Building from the district costs about a second; copying the SQLite file or refilling the
PostgreSQL tables from a pristine copy costs milliseconds.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.orm import Session, sessionmaker

from canonical_model.store import make_engine, session_factory
from simulators.civil_affairs import TABLES, CivilAffairsSimulator
from simulators.district import District
from tests.support import postgres

PERSONS = 1500
SEED = 11


@pytest.fixture(scope="session")
def district() -> District:
    return District(persons=PERSONS, seed=SEED)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory, district: District) -> Path:
    path = tmp_path_factory.mktemp("civil_affairs") / "template.db"
    CivilAffairsSimulator.sqlite(path, seed=SEED).build(district)
    return path


@pytest.fixture(scope="session")
def pg_source_db(district: District) -> Iterator[str]:
    """One PostgreSQL source database per session, with a pristine copy of its tables."""
    postgres.ensure_running()
    name = f"gridhub_ca_src_{uuid.uuid4().hex[:10]}"
    CivilAffairsSimulator.postgresql(name, seed=SEED, user=postgres.USER).build(district)
    with psycopg.connect(_dsn(name), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA pristine")
        for table in TABLES:
            conn.execute(f"CREATE TABLE pristine.{table} AS TABLE public.{table}".encode())
    yield name
    postgres.drop_database(name)


def _dsn(name: str) -> str:
    return f"host={postgres.HOST} port={postgres.PORT} user={postgres.USER} dbname={name}"


@pytest.fixture
def sqlite_source(sqlite_template: Path, tmp_path: Path) -> CivilAffairsSimulator:
    path = tmp_path / "civil_affairs.db"
    shutil.copyfile(sqlite_template, path)
    return CivilAffairsSimulator.sqlite(path, seed=SEED)


@pytest.fixture
def pg_source(pg_source_db: str) -> CivilAffairsSimulator:
    """The session's PostgreSQL source, its tables put back as built (milliseconds, where
    cloning a database takes seconds). The adapter reads ``public`` only."""
    with psycopg.connect(_dsn(pg_source_db), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(TABLES)}".encode())
        for table in TABLES:
            conn.execute(f"INSERT INTO public.{table} SELECT * FROM pristine.{table}".encode())
    return CivilAffairsSimulator.postgresql(pg_source_db, seed=SEED, user=postgres.USER)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="src-sqlite3"),
        pytest.param("postgresql", id="src-postgresql", marks=pytest.mark.integration),
    ]
)
def source(request: pytest.FixtureRequest) -> CivilAffairsSimulator:
    """The civil-affairs database behind each ODBC driver: the test runs once per driver."""
    name = "sqlite_source" if request.param == "sqlite" else "pg_source"
    sim: CivilAffairsSimulator = request.getfixturevalue(name)
    return sim


@pytest.fixture
def sqlite_sessions(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    """The canonical store on SQLite only, for tests whose subject is the source side."""
    engine = make_engine(sqlite_url)
    yield session_factory(engine)
    engine.dispose()
