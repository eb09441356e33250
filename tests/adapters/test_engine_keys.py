"""A source key longer than the store holds: quarantined whole, on both backends, instead of
failing its checkpoint on PostgreSQL at every run (the cursor could never pass it)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.engine import load_cursor, sync_stream
from adapters.engine.encoding import MAX_KEY_CHARS, storable_key
from canonical_model import Quarantine, SourceRecord, SyncState
from canonical_model.store import transaction
from tests.adapters.jsonl_source import LinesAdapter, write_lines

LONG = "档案" * 150  # 300 characters


def test_a_key_longer_than_the_store_holds_is_quarantined_and_the_batch_goes_on(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    longest = "号" * MAX_KEY_CHARS  # characters, not bytes: 600 bytes of UTF-8, still held
    src = tmp_path / "src.jsonl"
    lines = [
        {"key": "p1", "name": "甲"},
        {"key": LONG, "name": "乙"},
        {"key": longest, "name": "丙"},
        {"key": LONG + "x", "bad": True},  # rejected by the mapper, with a long key too
    ]
    write_lines(src, lines)
    report = sync_stream(LinesAdapter(src), "people", sessions, checkpoint_every=2)
    assert (report.inserted, report.quarantined) == (2, 2)
    assert load_cursor(sessions, "lines", "people") == {"line": 4}
    with sessions() as s:
        assert set(s.scalars(select(SourceRecord.source_key))) == {"p1", longest}
        entries = s.execute(select(Quarantine.source_key, Quarantine.reason_code)).all()
    assert sorted(entries) == sorted(
        [(storable_key(LONG), "schema.key_too_long"), (storable_key(LONG + "x"), "value.bad")]
    )

    # Read again from the start: the same over-long keys give the same entries, not new ones.
    with transaction(sessions) as s:
        s.get_one(SyncState, ("lines", "people")).cursor = {}
    again = sync_stream(LinesAdapter(src), "people", sessions, checkpoint_every=2)
    assert (again.inserted, again.unchanged, again.quarantined) == (0, 2, 2)
    with sessions() as s:
        assert len(s.scalars(select(Quarantine)).all()) == 2


def test_an_over_long_key_is_cut_to_one_the_store_holds_and_kept_apart_from_others() -> None:
    assert storable_key("p1") == "p1"
    assert storable_key(None) is None
    cut = storable_key(LONG)
    assert cut is not None
    assert len(cut) == MAX_KEY_CHARS
    assert cut.startswith(LONG[:150])
    assert cut == storable_key(LONG)
    assert cut != storable_key(LONG[:-1] + "x")  # the same first characters, another key
    assert storable_key("号" * MAX_KEY_CHARS) == "号" * MAX_KEY_CHARS
