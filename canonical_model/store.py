"""The canonical store: engines, sessions and schema migrations, for SQLite and PostgreSQL.

SQLite is tuned for one writer and many readers (WAL, foreign keys on, a busy timeout so a
second process waits instead of failing, checkpoints in a thread instead of in commits).
Migrations are Alembic's, run programmatically so the CLI, the DAGs and the tests share one
path.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import Base  # the package loads every entity module: complete metadata
from canonical_model.checkpoint import Checkpointer

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


_CHECKPOINTERS: weakref.WeakKeyDictionary[Engine, Checkpointer] = weakref.WeakKeyDictionary()


def checkpointer_of(engine: Engine) -> Checkpointer | None:
    """The thread checkpointing a file store's log (None for PostgreSQL or memory)."""
    return _CHECKPOINTERS.get(engine)


def _checkpoint_apart(engine: Engine, path: str) -> None:
    """Commits stop checkpointing; a thread does it (:mod:`canonical_model.checkpoint`)."""
    checkpointer = _CHECKPOINTERS[engine] = Checkpointer(path)

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")
        checkpointer.ensure_started()

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "engine_disposed", lambda _engine: checkpointer.stop())
    weakref.finalize(engine, checkpointer.stop)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created when missing."""
    parsed = make_url(url)
    # Statement parameters carry names and ID numbers: an error message must never echo
    # them to a console or a log (PIPL). Callers that need them for debugging can opt in.
    kwargs.setdefault("hide_parameters", True)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        if parsed.database and parsed.database != ":memory:":
            _checkpoint_apart(engine, str(Path(parsed.database).resolve()))
        return engine
    if parsed.drivername in ("postgresql", "postgres"):
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with factory() as session, session.begin():
        yield session


def _alembic_config(engine: Engine) -> Config:
    # alembic is imported here, not at module level: every ``gridhub`` process imports this
    # module, only migrations and the schema check need alembic (~0.6 s of start-up CPU).
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run on every start."""
    from alembic import command

    command.upgrade(_alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    command.downgrade(_alembic_config(engine), revision)


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    current: str | None
    head: str
    drift: tuple[str, ...]  # differences between the models and the live schema

    @property
    def ok(self) -> bool:
        return self.current == self.head and not self.drift


def check(engine: Engine) -> SchemaStatus:
    """Is the database at the head revision, and does its schema match the models?"""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    assert head is not None
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        current = ctx.get_current_revision()
        drift = tuple(str(d) for d in compare_metadata(ctx, Base.metadata)) if current else ()
    return SchemaStatus(current=current, head=head, drift=drift)
