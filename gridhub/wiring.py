"""Build the hub's long-lived objects from settings: one place, used by the CLI and the DAGs."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from canonical_model.store import make_engine, session_factory
from gridhub.settings import get_settings


@lru_cache(maxsize=4)
def engine(url: str | None = None) -> Engine:
    return make_engine(url or get_settings().effective_database_url)


def sessions(url: str | None = None) -> sessionmaker[Session]:
    return session_factory(engine(url))
