"""A resolved district store per backend, built once and cloned for every test.

Loading and fully resolving the district costs seconds; cloning costs milliseconds (a
file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL), so each test starts
from the same resolved store without paying for it again.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from canonical_model.store import make_engine, session_factory, transaction, upgrade
from resolution.store import resolve_store
from tests.resolution.store.district import add_crafted, load_district
from tests.support import postgres


def _build(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    factory = session_factory(engine)
    with transaction(factory) as s:
        load_district(s)
        add_crafted(s)
    with transaction(factory) as s:
        resolve_store(s)
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_resolved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("resolved") / "base.db"
    _build(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_resolved() -> Iterator[str]:
    postgres.ensure_running()
    with postgres.temporary_database() as name:
        _build(postgres.url_for(name))
        yield name


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    ]
)
def resolved_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh copy of the resolved district store, on each backend."""
    if request.param == "sqlite":
        base: Path = request.getfixturevalue("sqlite_resolved")
        target = tmp_path / "store.db"
        shutil.copyfile(base, target)
        yield f"sqlite:///{target}"
        return
    template: str = request.getfixturevalue("pg_resolved")
    with postgres.temporary_database(template=template) as name:
        yield postgres.url_for(name)


@pytest.fixture
def resolved_engine(resolved_url: str) -> Iterator[Engine]:
    engine = make_engine(resolved_url)
    yield engine
    engine.dispose()


@pytest.fixture
def resolved(resolved_engine: Engine) -> sessionmaker[Session]:
    return session_factory(resolved_engine)
