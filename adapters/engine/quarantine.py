"""A stream's quarantine, as a sync keeps it: rejected records stored whole, once, and
released when their key later maps cleanly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from adapters.contract import Extracted, RecordRejected
from adapters.engine.encoding import raw_bytes, storable_key
from adapters.engine.store import StreamWrites, chunks
from canonical_model import Quarantine, QuarantineStatus

__all__ = ["quarantine", "release_quarantined"]


def quarantine(
    session: Session,
    source: str,
    stream: str,
    rejected: Sequence[tuple[Extracted, RecordRejected]],
    batch_id: str,
    known: StreamWrites,
) -> int:
    """Keep each rejected record whole, once: a re-delivered bad record is not stored twice."""
    if not rejected:
        return 0
    known.open_quarantine = True
    candidates = [
        (storable_key(item.source_key or rejection.source_key), raw_bytes(item.raw), rejection)
        for item, rejection in rejected
    ]
    keys = {key for key, _, _ in candidates if key is not None}
    seen: set[tuple[str | None, bytes]] = set()
    if keys:
        for chunk in chunks(sorted(keys)):
            seen.update(
                (key, bytes(raw))
                for key, raw in session.execute(
                    select(Quarantine.source_key, Quarantine.raw).where(
                        Quarantine.source == source,
                        Quarantine.stream == stream,
                        Quarantine.status == QuarantineStatus.OPEN,
                        Quarantine.source_key.in_(chunk),
                    )
                )
            )
    rows = []
    for key, raw, rejection in candidates:
        if (key, raw) in seen:
            continue
        seen.add((key, raw))
        rows.append(
            {
                "source": source,
                "stream": stream,
                "source_key": key,
                "raw": raw,
                "reason_code": rejection.reason_code,
                "reason": rejection.reason,
                "batch_id": batch_id,
                "status": QuarantineStatus.OPEN,
            }
        )
    if rows:
        session.execute(insert(Quarantine), rows)
    return len(rows)


def release_quarantined(
    session: Session, source: str, stream: str, keys: Sequence[str], now: Any
) -> None:
    """A key that now maps cleanly closes its open quarantine entries: the source fixed it."""
    for chunk in chunks(keys):
        session.execute(
            update(Quarantine)
            .where(
                Quarantine.source == source,
                Quarantine.stream == stream,
                Quarantine.status == QuarantineStatus.OPEN,
                Quarantine.source_key.in_(chunk),
            )
            .values(status=QuarantineStatus.RELEASED, released_at=now)
            .execution_options(synchronize_session=False)
        )
