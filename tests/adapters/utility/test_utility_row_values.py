"""Row-level values the store cannot take, and the order readings reach it in: a NUL
character quarantines its row (PostgreSQL text cannot hold U+0000) instead of failing the
checkpoint in the driver; an encoding whose bytes are full of NULs is not mistaken for
one; a day's rows go in sorted, with a later row of the same account and day winning."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from adapters.utility import UtilityConfig
from simulators.utility import UtilityDrop
from tests.adapters.utility.conftest import accounts, quarantine, readings, sync
from tests.adapters.utility.test_utility_sync import csv_file, redo


def test_a_nul_in_a_field_quarantines_its_row_and_the_file_loads(
    cfg: UtilityConfig, drop: UtilityDrop, sessions: sessionmaker[Session]
) -> None:
    """On SQLite and PostgreSQL alike: the NUL rows are quarantined with their reason,
    nothing of them is stored, and every other row of the file is."""
    (water,) = drop.write_day(drop.as_of, kinds=["water"])
    rows = csv_file(water)
    clean_account = rows[2][0]
    rows[2][0] = clean_account[:4] + "\0" + clean_account[4:]  # in the key itself
    rows[5][3] = rows[5][3] + "\0"  # in the address: would reach address_normalized
    redo(water, rows)
    report, stats = sync(cfg, sessions)
    assert report.error is None
    assert quarantine(sessions) == {
        f"water:row:{water.name}:3": "encoding.nul",
        f"water:row:{water.name}:6": "encoding.nul",
    }
    stored = readings(sessions)
    assert stats["readings"] == len(stored) == len(rows) - 2
    assert not any("\0" in account for _, account, _ in stored)
    assert ("water", rows[5][0], rows[5][5]) not in stored
    assert ("water", rows[0][0], rows[0][5]) in stored
    assert accounts(sessions) == len(rows) - 2  # the NUL rows' accounts are not records
    assert (cfg.archive / water.name).exists()
    assert os.listdir(cfg.inbox) == []


def test_a_utf16_file_is_not_taken_for_nul_characters(
    cfg: UtilityConfig, drop: UtilityDrop, sessions: sessionmaker[Session]
) -> None:
    """UTF-16 text has a NUL byte in nearly every character but no U+0000: every row loads.
    (Big-endian, so that a line still ends in a newline byte.)"""
    (water,) = drop.write_day(drop.as_of, kinds=["water"])
    rows = csv_file(water)
    redo(water, rows)
    data = water.read_bytes().decode("gb18030").encode("utf-16-be")
    assert b"\0" in data
    water.write_bytes(data)
    manifest = water.with_name(f"{water.name}.manifest.json")
    doc = json.loads(manifest.read_text(encoding="utf-8"))
    doc.update(encoding="UTF-16-BE", sha256=hashlib.sha256(data).hexdigest())
    manifest.write_text(json.dumps(doc), encoding="utf-8")
    report, stats = sync(cfg, sessions)
    assert (report.error, report.quarantined, stats["rejected"]) == (None, 0, 0)
    assert stats["readings"] == len(readings(sessions)) == len(rows)


def test_a_day_loads_in_index_order_and_a_later_duplicate_row_wins(
    cfg: UtilityConfig, drop: UtilityDrop, sessions: sessionmaker[Session]
) -> None:
    """The parse sorts a chunk by (day, account) for the index; the sort is stable, so of
    two rows for one account and day the later in the file is the one stored, as before."""
    (water,) = drop.write_day(drop.as_of - timedelta(days=1), kinds=["water"])
    rows = csv_file(water)
    rows.reverse()  # descending accounts: the sort has work to do
    again = list(rows[1])
    again[6] = "7.777"
    rows.append(again)  # the same account and day once more, at the end
    redo(water, rows)
    _report, stats = sync(cfg.model_copy(update={"rows_per_checkpoint": 10_000}), sessions)
    stored = readings(sessions)
    assert stats["readings"] == len(rows)  # both rows went in; the upsert kept one
    assert len(stored) == len(rows) - 1
    assert stored[("water", again[0], again[5])][0] == 7.777
    for row in rows[2:-1]:
        assert stored[("water", row[0], row[5])][0] == float(row[6])
