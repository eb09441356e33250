"""Store maintenance jobs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from canonical_model import Base
from canonical_model.store import check, upgrade
from gridhub.wiring import engine


def upgrade_store(url: str | None = None) -> dict[str, Any]:
    """Migrate the canonical store to the newest schema and report where it stands."""
    eng = engine(url)
    upgrade(eng)
    status = check(eng)
    if not status.ok:
        raise RuntimeError(f"schema drift after upgrade: {list(status.drift)}")
    return {"revision": status.current, "tables": len(Base.metadata.tables)}


def table_counts(url: str | None = None) -> dict[str, int]:
    """Rows per table, for summaries and monitoring (counts only, never contents)."""
    with engine(url).connect() as conn:
        return {
            name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for name, table in sorted(Base.metadata.tables.items())
        }
