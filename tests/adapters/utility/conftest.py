"""An inbox with archive and rejected folders, the companies' drop, and store helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.contract import SyncReport
from adapters.engine import sync_stream
from adapters.utility import UtilityAdapter, UtilityConfig, create_adapter
from canonical_model import Quarantine, SourceRecord
from canonical_model.utility import UtilityReading
from simulators.utility import UtilityDrop

HOUSEHOLDS = 70


@pytest.fixture
def cfg(tmp_path: Path) -> UtilityConfig:
    return UtilityConfig(
        inbox=tmp_path / "inbox",
        archive=tmp_path / "archive",
        rejected=tmp_path / "rejected",
        rows_per_checkpoint=100,
        manifest_grace_s=0,
    )


@pytest.fixture
def drop(cfg: UtilityConfig) -> UtilityDrop:
    cfg.inbox.mkdir(parents=True)
    return UtilityDrop(cfg.inbox, HOUSEHOLDS, seed=17)


def sync(
    cfg: UtilityConfig, sessions: sessionmaker[Session], *, checkpoint_every: int = 50, **kw: Any
) -> tuple[SyncReport, dict[str, int]]:
    adapter = create_adapter(cfg.model_copy(update=kw) if kw else cfg)
    assert isinstance(adapter, UtilityAdapter)
    try:
        report = sync_stream(adapter, "accounts", sessions, checkpoint_every=checkpoint_every)
    finally:
        adapter.close()
    return report, dict(adapter.accounts.stats)


def readings(sessions: sessionmaker[Session]) -> dict[tuple[str, str, str], tuple[Any, ...]]:
    with sessions() as s:
        rows = s.execute(
            select(
                UtilityReading.kind,
                UtilityReading.account,
                UtilityReading.reading_date,
                UtilityReading.usage,
                UtilityReading.meter_reading,
                UtilityReading.address_normalized,
                UtilityReading.source_file,
            )
        ).all()
    return {(k, a, d.isoformat()): tuple(rest) for k, a, d, *rest in rows}


def count(sessions: sessionmaker[Session], model: type, *where: Any) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def accounts(sessions: sessionmaker[Session]) -> int:
    return count(sessions, SourceRecord, SourceRecord.source == "utility")


def quarantine(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions() as s:
        rows = s.execute(select(Quarantine.source_key, Quarantine.reason_code)).all()
        return {str(key): str(code) for key, code in rows}


def manifest_rows(paths: list[Path]) -> int:
    """Rows the manifests announce, wherever the files have moved since (inbox, archive…)."""
    total = 0
    for p in paths:
        for folder in (p.parent, p.parent.parent / "archive", p.parent.parent / "rejected"):
            manifest = folder / f"{p.name}.manifest.json"
            if manifest.exists():
                total += json.loads(manifest.read_text(encoding="utf-8"))["rows"]
                break
        else:
            raise FileNotFoundError(f"no manifest for {p.name}")
    return total
