"""The store's person index: one statement finds a newcomer's candidates, blocks over the
size cap left out exactly as the batch run leaves them out."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import SourceRecord
from canonical_model.resolution_state import ResolutionBlock, ResolutionEntry
from canonical_model.store import downgrade, make_engine, upgrade
from resolution import load_profile
from resolution.state import active_model
from resolution.store_index import StoreBackend, _lookup_keys
from resolution.store_read import entry_values

PROFILE = load_profile("cn_person")


def _busiest(s: Session) -> tuple[int, dict[str, str | None], list[tuple[int, int]]]:
    """A record whose lookup keys hit blocks of several sizes: (record, its values,
    (size, key) of each non-empty block it looks up, smallest first)."""
    rows = s.execute(
        select(ResolutionEntry.source_record_id, ResolutionEntry.features)
        .where(ResolutionEntry.sufficient.is_(True))
        .order_by(ResolutionEntry.source_record_id)
    ).all()
    best: tuple[int, dict[str, str | None], list[tuple[int, int]]] | None = None
    for rid, features in rows:
        values = entry_values(PROFILE, features)
        keys = sorted(set(_lookup_keys(PROFILE, values)))
        sizes = s.execute(
            select(ResolutionBlock.key, func.count())
            .where(ResolutionBlock.key.in_(keys))
            .group_by(ResolutionBlock.key)
        ).all()
        found = sorted((int(n), int(k)) for k, n in sizes)
        if best is None or len({n for n, _ in found}) > len({n for n, _ in best[2]}):
            best = (int(rid), values, found)
    assert best is not None
    return best


def _expected(s: Session, blocks: list[tuple[int, int]], cap: int, exclude: int) -> list[int]:
    """The same answer the slow way: every block of at most ``cap`` rows, its records."""
    keys = [k for n, k in blocks if n <= cap]
    ids = s.scalars(
        select(ResolutionBlock.source_record_id)
        .distinct()
        .join(SourceRecord, SourceRecord.id == ResolutionBlock.source_record_id)
        .where(ResolutionBlock.key.in_(keys), SourceRecord.person_id.is_not(None))
    )
    return sorted(int(i) for i in ids if i != exclude)


def test_candidates_leave_out_exactly_the_blocks_over_the_cap(
    resolved: sessionmaker[Session],
) -> None:
    with resolved() as s:
        record, values, blocks = _busiest(s)
        sizes = sorted({n for n, _ in blocks})
        assert len(sizes) >= 2, blocks  # the district has blocks of different sizes
        model = active_model(s, PROFILE)
        assert model is not None
        seen = []
        # at each size the cap is the block's exact size (kept) and one less (left out)
        for cap in sorted({max(c, 2) for n in sizes for c in (n - 1, n)}):
            backend = StoreBackend(s, replace(PROFILE, max_block_size=cap), model)
            got = [c.record for c in backend.candidates(values, exclude=record)]
            assert got == _expected(s, blocks, cap, record), cap
            seen.append(len(got))
        assert seen[0] < seen[-1]  # the cap did leave something out


@pytest.mark.parametrize("exclude", [pytest.param(True, id="itself"), pytest.param(False, id="no")])
def test_a_record_is_not_its_own_candidate(resolved: sessionmaker[Session], exclude: bool) -> None:
    with resolved() as s:
        record, values, _ = _busiest(s)
        model = active_model(s, PROFILE)
        assert model is not None
        found = StoreBackend(s, PROFILE, model).candidates(values, record if exclude else None)
        ids = [c.record for c in found]
        assert (record in ids) is not exclude
        assert ids == sorted(set(ids))
        mine = next((c for c in found if c.record == record), None)
        assert mine is None or mine.values == values


def test_the_index_table_keeps_its_rows_across_migration_0013(resolved_url: str) -> None:
    """On SQLite each index row is written once (the primary key is the table: no rowid),
    and rebuilding the table either way (0013 down and up) copies every row; on PostgreSQL
    (no rowids) the migration leaves the table as it is."""
    sqlite = resolved_url.startswith("sqlite")
    engine = make_engine(resolved_url)
    try:

        def table_state() -> tuple[bool, list[tuple[int, int]], list[str]]:
            with engine.connect() as c:
                rows = c.execute(text("SELECT * FROM resolution_block ORDER BY 1, 2")).all()
                if not sqlite:
                    names = c.scalars(
                        text(
                            "SELECT indexname FROM pg_indexes WHERE tablename = 'resolution_block'"
                        )
                    ).all()
                    return False, [(int(k), int(r)) for k, r in rows], list(names)
                sql = c.scalar(
                    text("SELECT sql FROM sqlite_master WHERE name = 'resolution_block'")
                )
                names = c.scalars(
                    text("SELECT name FROM sqlite_master WHERE tbl_name = 'resolution_block'")
                ).all()
            return (
                "WITHOUT ROWID" in str(sql).upper(),
                [(int(k), int(r)) for k, r in rows],
                list(names),
            )

        no_rowid, rows, names = table_state()
        assert no_rowid is sqlite
        assert rows
        assert "ix_resolution_block_record" in names
        downgrade(engine, "0012")
        no_rowid_down, rows_down, _ = table_state()
        assert no_rowid_down is False
        assert rows_down == rows
        upgrade(engine)
        no_rowid_up, rows_up, names_up = table_state()
        assert no_rowid_up is sqlite
        assert rows_up == rows
        assert "ix_resolution_block_record" in names_up
    finally:
        engine.dispose()
