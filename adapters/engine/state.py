"""A stream's state row (``sync_state``): its cursor, the batch that last wrote it, and the
lock each checkpoint takes on it.

Core statements built once: through the ORM, reading and updating this one row cost more
Python per checkpoint than the audit entry and the quarantine together.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import SyncState, utcnow

__all__ = ["load_cursor", "load_state", "lock_state", "rewrite_state", "write_state"]

_STATE = SyncState.metadata.tables["sync_state"]
_THIS_STATE = (_STATE.c.source == bindparam("state_source")) & (
    _STATE.c.stream == bindparam("state_stream")
)
_LOOK_UP_STATE = select(_STATE.c.cursor, _STATE.c.last_batch_id).where(_THIS_STATE)
_READ_STATE = _LOOK_UP_STATE.with_for_update()
_WRITE_STATE = (
    update(_STATE)
    .where(_THIS_STATE)
    .values(
        cursor=bindparam("new_cursor"),
        records_seen=_STATE.c.records_seen + bindparam("received"),
        last_batch_id=bindparam("batch"),
        updated_at=bindparam("now"),
    )
)


def load_cursor(sessions: sessionmaker[Session], source: str, stream: str) -> dict[str, Any]:
    return load_state(sessions, source, stream)[0]


def load_state(
    sessions: sessionmaker[Session], source: str, stream: str
) -> tuple[dict[str, Any], str | None]:
    """The stored cursor and the batch that last wrote it.

    Core, not ``session.get``: the first ORM query of a process configures every mapper
    of the canonical model (~50 ms, then ~30 ms compiling), which a sync paid before its
    first record — a tenth of a whole 民政 sync. Nothing else on a sync's path needs them.
    """
    with sessions() as session:
        row = (
            session.connection()
            .execute(_LOOK_UP_STATE, {"state_source": source, "state_stream": stream})
            .first()
        )
        return (dict(row[0]), row[1]) if row is not None else ({}, None)


def lock_state(session: Session, source: str, stream: str) -> tuple[dict[str, Any], str | None]:
    """The stream's stored (cursor, last batch), its row locked until the checkpoint commits."""
    connection = session.connection()
    row = connection.execute(
        _READ_STATE, {"state_source": source, "state_stream": stream}
    ).one_or_none()
    if row is None:
        connection.execute(
            insert(_STATE).values(
                source=source, stream=stream, cursor={}, records_seen=0, updated_at=utcnow()
            )
        )
        return {}, None
    return dict(row.cursor), row.last_batch_id


def write_state(
    session: Session,
    source: str,
    stream: str,
    cursor: Mapping[str, Any],
    received: int,
    batch: str,
    now: datetime,
) -> None:
    """Move the stream's cursor in the checkpoint's transaction (``lock_state`` first)."""
    session.connection().execute(
        _WRITE_STATE,
        {
            "state_source": source,
            "state_stream": stream,
            "new_cursor": dict(cursor),
            "received": received,
            "batch": batch,
            "now": now,
        },
    )


def rewrite_state(session: Session, source: str, stream: str) -> None:
    """Write the row as it is: a change of its own, for a commit that must wait for the disk
    (see ``sync._after_sync``)."""
    session.connection().execute(
        update(_STATE).where(_THIS_STATE).values(updated_at=_STATE.c.updated_at),
        {"state_source": source, "state_stream": stream},
    )
