"""Shared fixtures: a fresh, migrated canonical store on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

os.environ.setdefault("GRIDHUB_ENVIRONMENT", "test")
os.environ.setdefault("GRIDHUB_HUKOU__PASSWORD", "test-only-password")
os.environ.setdefault("GRIDHUB_KEY_PASSPHRASE", "test-only-passphrase")
# Airflow reads its configuration once, at import: point it at this repository's airflow.cfg
# with a throwaway metadata database before any test imports it.
_REPO = Path(__file__).resolve().parent.parent
os.environ["AIRFLOW_HOME"] = str(_REPO)
os.environ["AIRFLOW_CONFIG"] = str(_REPO / "airflow.cfg")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = (
    f"sqlite:///{tempfile.mkdtemp(prefix='gridhub-airflow-')}/airflow.db"
)

from canonical_model.store import make_engine, session_factory, upgrade  # noqa: E402
from tests.support import postgres  # noqa: E402

REPO_ROOT = _REPO


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated database that per-test databases are cloned from."""
    postgres.ensure_running()
    with postgres.temporary_database() as name:
        engine = make_engine(postgres.url_for(name))
        upgrade(engine)
        engine.dispose()
        yield name


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    with postgres.temporary_database(template=pg_template) as name:
        yield postgres.url_for(name)


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """An engine on a fresh PostgreSQL store, for tests that run there alone."""
    eng = make_engine(pg_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'gridhub.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    ]
)
def store_url(request: pytest.FixtureRequest) -> str:
    """The canonical store on each backend: the test runs once per backend."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    eng = make_engine(store_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)
