"""Fixtures shared by the REST and gRPC tests (imported by both conftest files).

Most tests run on SQLite only, from a migrated template copied per test (migrating afresh
costs seconds); ``test_backends.py`` runs the key flows on PostgreSQL as well.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from api import ApiConfig, Hub
from canonical_model.store import make_engine, upgrade
from tests.api.district import Seeded, Settings, Tokens, seed


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "gridhub.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    target = tmp_path / "gridhub.db"
    shutil.copyfile(sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def store_url(sqlite_url: str) -> str:
    """SQLite only here; a module that runs on both backends (``test_backends.py``) says
    ``store_url = store_url_each_backend``."""
    return sqlite_url


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    ]
)
def store_url_each_backend(request: pytest.FixtureRequest) -> str:
    """The store on SQLite, then on PostgreSQL: the test runs once per backend."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def api_config() -> ApiConfig:
    return ApiConfig(
        token_cache_seconds=0,
        max_photo_bytes=64 * 1024,
        max_photos=2,
        subscription_poll_seconds=0.05,
        event_gap_grace_seconds=0.3,
    )


@pytest.fixture
def settings(tmp_path: Path, store_url: str) -> Settings:
    return Settings(var_dir=tmp_path / "var", database_url=store_url)


@pytest.fixture
def hub(
    settings: Settings, sessions: sessionmaker[Session], api_config: ApiConfig
) -> Iterator[Hub]:
    hub = Hub.from_settings(settings, api_config, sessions=sessions)
    yield hub
    hub.close()  # the queued read entries land (and must: a failing flush fails the test)


@pytest.fixture
def tokens(hub: Hub) -> Tokens:
    return Tokens(hub.ring)


@pytest.fixture
def seeded(sessions: sessionmaker[Session]) -> Seeded:
    return seed(sessions)


__all__ = [
    "api_config",
    "hub",
    "seeded",
    "settings",
    "sqlite_template",
    "sqlite_url",
    "store_url",
    "tokens",
]
