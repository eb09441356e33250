"""A FHIR simulator per test module and helpers to point the health adapter at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.contract import SyncReport
from adapters.engine import sync_stream
from adapters.health import HealthConfig, create_adapter
from canonical_model import Quarantine, SourceRecord
from simulators.health import HealthSimulator

PATIENTS = 60
INVALID = 3  # one Patient, one Encounter, one Observation


@pytest.fixture
def fhir() -> Iterator[HealthSimulator]:
    with HealthSimulator(PATIENTS, seed=21, invalid=INVALID) as sim:
        yield sim


def config(sim: HealthSimulator, **overrides: Any) -> HealthConfig:
    values: dict[str, Any] = {
        "base_url": sim.base_url,
        "page_size": 20,
        "timeout_s": 5,
        "max_retries": 2,
        "backoff_s": 0.01,
        "max_backoff_s": 0.05,
        "lookback_s": 0,
    }
    return HealthConfig(**{**values, **overrides})


def sync(
    sim: HealthSimulator,
    stream: str,
    sessions: sessionmaker[Session],
    *,
    checkpoint_every: int = 25,
    **overrides: Any,
) -> SyncReport:
    adapter = create_adapter(config(sim, **overrides))
    try:
        return sync_stream(adapter, stream, sessions, checkpoint_every=checkpoint_every)
    finally:
        adapter.close()


def stored(sessions: sessionmaker[Session], stream: str) -> int:
    with sessions() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(SourceRecord)
                .where(SourceRecord.source == "health", SourceRecord.stream == stream)
            )
            or 0
        )


def quarantined(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Quarantine)) or 0)


def served(sim: HealthSimulator, resource: str) -> int:
    return int(sim.stats()["counts"][resource])
