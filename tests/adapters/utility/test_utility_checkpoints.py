"""What each checkpoint of a utility sync commits: a file's readings and the cursor naming
the file together, never the cursor before the readings, and (once its accounts are known
unchanged) one transaction per file."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.contract import SyncReport
from adapters.engine import sync_stream
from adapters.utility import UtilityAdapter, UtilityConfig, create_adapter
from canonical_model.utility import UtilityReading
from simulators.utility import UtilityDrop
from tests.adapters.utility.conftest import manifest_rows, sync


def _per_file(sessions: sessionmaker[Session]) -> Counter[str]:
    with sessions() as s:
        rows = s.execute(
            select(UtilityReading.source_file, func.count()).group_by(UtilityReading.source_file)
        ).all()
    return Counter({str(name): int(n) for name, n in rows})


@pytest.mark.integration
def test_a_known_days_file_commits_its_readings_and_its_cursor_in_one_checkpoint(
    cfg: UtilityConfig, drop: UtilityDrop, sessions: sessionmaker[Session]
) -> None:
    drop.write_day(drop.as_of - timedelta(days=2))
    sync(cfg, sessions)
    later = drop.write_days(drop.as_of, 2)  # day 2 looks its accounts up, day 3 knows them
    expected = {p.name: manifest_rows([p]) for p in later}
    commits: list[tuple[set[str], Counter[str]]] = []

    def observe(report: SyncReport) -> None:
        commits.append((set(report.cursor.get("files", {})), _per_file(sessions)))

    adapter = create_adapter(cfg)
    assert isinstance(adapter, UtilityAdapter)
    try:
        sync_stream(adapter, "accounts", sessions, checkpoint_every=50, progress=observe)
    finally:
        adapter.close()
    checkpoints_of: Counter[str] = Counter()
    named_at: dict[str, int] = {}
    for i, (named, stored) in enumerate(commits):
        for name, rows in expected.items():
            if name in named:  # the cursor never names a file whose readings are missing
                assert stored[name] == rows, name
                named_at.setdefault(name, i)
            elif stored[name] > 0 and (i == 0 or commits[i - 1][1][name] != stored[name]):
                checkpoints_of[name] += 1  # readings written before the file is named
    assert set(named_at) == set(expected)
    day3 = [p.name for p in later[3:]]
    assert [checkpoints_of[name] for name in day3] == [0, 0, 0]
    # Day 2's files looked every account up in the store first: readings, then the cursor.
    assert [checkpoints_of[p.name] for p in later[:3]] == [1, 1, 1]
