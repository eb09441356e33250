"""What a sync learns of its stream once and keeps up itself (``store.StreamWrites``): a
first load looks up only the keys it has stored already, and an open quarantine entry is
released by a later checkpoint of the same sync. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.engine import store, sync_stream
from canonical_model import (
    Quarantine,
    QuarantineStatus,
    SourceRecord,
    SourceRecordHistory,
    SyncState,
)
from canonical_model.store import transaction
from tests.adapters.jsonl_source import LinesAdapter, write_lines


def people(n: int, start: int = 0, suffix: str = "") -> list[dict[str, object]]:
    return [{"key": f"p{i}", "name": f"居民{i}{suffix}"} for i in range(start, start + n)]


@pytest.fixture
def looked_up(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The keys of each lookup of stored records the engine makes, in order (the lookup
    itself still runs)."""
    seen: list[list[str]] = []
    real = store._stored

    def observed(
        connection: Any, postgres: bool, source: str, stream: str, keys: Sequence[str]
    ) -> Any:
        seen.append(list(keys))
        return real(connection, postgres, source, stream, list(keys))

    monkeypatch.setattr(store, "_stored", observed)
    return seen


def versions(sessions: sessionmaker[Session], key: str) -> tuple[int, list[str]]:
    """The record's version, and the names of its superseded versions in order."""
    with sessions() as s:
        record = s.scalars(select(SourceRecord).where(SourceRecord.source_key == key)).one()
        history = s.scalars(
            select(SourceRecordHistory)
            .where(SourceRecordHistory.source_record_id == record.id)
            .order_by(SourceRecordHistory.version)
        ).all()
        return record.version, [h.payload["name"] for h in history]


def test_a_first_load_looks_up_only_keys_it_stored_already(
    tmp_path: Path, sessions: sessionmaker[Session], looked_up: list[list[str]]
) -> None:
    """p3 comes again changed and p4 again unchanged, two checkpoints after they were stored:
    those two keys are the only ones looked up, and p3 gets its second version."""
    src = tmp_path / "src.jsonl"
    changed = {"key": "p3", "name": "居民3-改"}
    write_lines(src, [*people(10), changed, *people(1, start=4), *people(3, start=10)])
    report = sync_stream(LinesAdapter(src), "people", sessions, checkpoint_every=5)
    assert (report.inserted, report.updated, report.unchanged) == (13, 1, 1)
    assert looked_up == [["p3", "p4"]]
    assert versions(sessions, "p3") == (2, ["居民3"])


def test_a_stream_that_held_records_looks_every_key_up(
    tmp_path: Path, sessions: sessionmaker[Session], looked_up: list[list[str]]
) -> None:
    """Read again from the start (an operator reset the cursor): every key is there already,
    so nothing is inserted twice and nothing counts as new."""
    src = tmp_path / "src.jsonl"
    write_lines(src, people(12))
    sync_stream(LinesAdapter(src), "people", sessions, checkpoint_every=5)
    assert looked_up == []
    with transaction(sessions) as s:
        s.get_one(SyncState, ("lines", "people")).cursor = {}
    report = sync_stream(LinesAdapter(src), "people", sessions, checkpoint_every=5)
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 12)
    assert looked_up == [[f"p{i}" for i in range(j, min(j + 5, 12))] for j in (0, 5, 10)]


def test_past_the_keys_kept_a_first_load_looks_every_key_up_again(
    tmp_path: Path,
    sessions: sessionmaker[Session],
    looked_up: list[list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store, "KEYS_KEPT", 4)
    src = tmp_path / "src.jsonl"
    write_lines(src, [*people(6), *people(3, start=6), {"key": "p1", "name": "居民1-改"}])
    report = sync_stream(LinesAdapter(src), "people", sessions, checkpoint_every=3)
    assert (report.inserted, report.updated, report.unchanged) == (9, 1, 0)
    # Three keys kept, then six (more than four): from the third checkpoint on, all looked up.
    assert looked_up == [["p6", "p7", "p8"], ["p1"]]
    assert versions(sessions, "p1") == (2, ["居民1"])


def test_a_quarantine_entry_is_released_by_a_later_checkpoint_of_the_same_sync(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    """The stream held no open entry when the sync began; its first checkpoint opens one."""
    src = tmp_path / "src.jsonl"
    write_lines(
        src, [{"key": "p1", "bad": True}, *people(3, start=2), {"key": "p1", "name": "修正后"}]
    )
    report = sync_stream(LinesAdapter(src), "people", sessions, checkpoint_every=2)
    assert (report.quarantined, report.inserted) == (1, 4)
    with sessions() as s:
        entry = s.scalars(select(Quarantine)).one()
    assert entry.status == QuarantineStatus.RELEASED
    assert entry.released_at is not None
