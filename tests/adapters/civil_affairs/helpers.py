"""Shared steps of the civil-affairs tests: settings that fail fast, a sync, store queries."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.civil_affairs import CivilAffairsConfig, create_adapter
from adapters.contract import SyncReport
from adapters.engine import sync_adapter
from canonical_model import Quarantine, SourceRecord, SourceRecordHistory
from simulators.civil_affairs import TABLES, CivilAffairsSimulator

STREAMS = tuple(TABLES)


def config_for(sim: CivilAffairsSimulator, **overrides: Any) -> CivilAffairsConfig:
    """Settings for ``sim`` that fail fast: short locks and pauses, a handful of retries."""
    values: dict[str, Any] = {
        "connection_string": sim.connection_string,
        "lock_timeout_ms": 200,
        "backoff_s": 0.05,
        "max_backoff_s": 0.2,
        "max_retries": 3,
        "connect_timeout_s": 2,
    }
    return CivilAffairsConfig(**(values | overrides))


def sync(
    sim: CivilAffairsSimulator,
    sessions: sessionmaker[Session],
    streams: Iterable[str] | None = None,
    *,
    checkpoint_every: int = 100,
    **config: Any,
) -> dict[str, SyncReport]:
    adapter = create_adapter(config_for(sim, **config))
    reports = sync_adapter(
        adapter, sessions, streams=list(streams or STREAMS), checkpoint_every=checkpoint_every
    )
    return {r.stream: r for r in reports}


def stored(sessions: sessionmaker[Session], stream: str) -> dict[str, SourceRecord]:
    with sessions() as s:
        rows = s.scalars(
            select(SourceRecord).where(
                SourceRecord.source == "civil_affairs", SourceRecord.stream == stream
            )
        ).all()
    return {r.source_key: r for r in rows}


def history_count(sessions: sessionmaker[Session], stream: str) -> int:
    with sessions() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(SourceRecordHistory)
                .join(SourceRecord, SourceRecord.id == SourceRecordHistory.source_record_id)
                .where(SourceRecord.stream == stream)
            )
            or 0
        )


def quarantined(sessions: sessionmaker[Session], stream: str | None = None) -> list[Quarantine]:
    query = select(Quarantine).where(Quarantine.source == "civil_affairs")
    if stream:
        query = query.where(Quarantine.stream == stream)
    with sessions() as s:
        return list(s.scalars(query.order_by(Quarantine.id)).all())
