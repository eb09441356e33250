"""Alembic environment: the engine is handed over by ``canonical_model.store``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from canonical_model import Base  # the package loads every entity module: complete metadata

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through canonical_model.store.upgrade(engine)")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=False,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
