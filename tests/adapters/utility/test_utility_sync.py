"""Loading meter files on SQLite and PostgreSQL: readings into their narrow table, accounts
as source records, files archived only after their commit, bad files rejected whole with a
reason while the others load, nothing lost or doubled by re-runs or kill -9."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.contract import SourceUnavailable
from adapters.engine import load_cursor
from adapters.utility import UtilityConfig, create_adapter
from canonical_model import ExchangeLogEntry, SourceRecord
from canonical_model.utility import UtilityReading
from simulators.utility import UtilityDrop, manifest_name
from tests.adapters.utility.conftest import (
    accounts,
    count,
    manifest_rows,
    quarantine,
    readings,
    sync,
)

REPO = Path(__file__).resolve().parents[3]


def csv_file(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode("gb18030"), newline="")))[1:]


def test_files_load_readings_and_accounts_then_move_to_the_archive(
    cfg: UtilityConfig, drop: UtilityDrop, sessions: sessionmaker[Session]
) -> None:
    paths = drop.write_days(drop.as_of, 2)
    report, stats = sync(cfg, sessions)
    stored = readings(sessions)
    assert len(stored) == stats["readings"] == manifest_rows(paths)
    assert accounts(sessions) == report.inserted == len(drop.district.accounts)
    assert (stats["files"], stats["rejected"], report.quarantined) == (6, 0, 0)
    assert sorted(os.listdir(cfg.inbox)) == []
    assert len(os.listdir(cfg.archive)) == 12  # files and manifests
    assert sorted(load_cursor(sessions, "utility", "accounts")["files"]) == sorted(
        p.name for p in paths
    )
    # Values as the company wrote them; the address as the account's person record has it.
    water = paths[-3]
    with sessions() as s:
        rows = s.execute(select(SourceRecord.source_key, SourceRecord.canonical)).all()
        canonical = {key: value for key, value in rows}
    for row in csv_file(cfg.archive / water.name):
        usage, meter, address, source = stored[("water", row[0], row[5])]
        assert (usage, meter, source) == (float(row[6]), float(row[7]), water.name)
        assert address == canonical[f"water:{row[0]}"]["address"]
        assert address
    with sessions() as s:
        logged = sum(e.record_count for e in s.scalars(select(ExchangeLogEntry)))
    assert logged == report.received


def test_a_second_day_touches_no_unchanged_account(
    cfg: UtilityConfig, drop: UtilityDrop, sessions: sessionmaker[Session]
) -> None:
    drop.write_day(drop.as_of - timedelta(days=1))
    sync(cfg, sessions)
    paths = drop.write_day(drop.as_of)
    report, stats = sync(cfg, sessions)
    assert (report.inserted, report.updated) == (0, 0)
    assert stats["readings"] == manifest_rows(paths)
    # Unchanged accounts never reach the engine: the checkpoints commit readings alone.
    assert report.received == 0
    assert report.checkpoints >= len(paths)


def test_a_changed_holder_updates_the_account(
    cfg: UtilityConfig, drop: UtilityDrop, sessions: sessionmaker[Session]
) -> None:
    (water,) = drop.write_day(drop.as_of, kinds=["water"])
    sync(cfg, sessions)
    rows = csv_file(cfg.archive / water.name)
    rows[4][1] = "王𠮷喆"  # the account passed to a family member; a GB18030 4-byte character
    redo(cfg.inbox / "water_20250102.csv", rows)
    report, _ = sync(cfg, sessions)
    assert (report.updated, report.inserted) == (1, 0)
    with sessions() as s:
        record = s.scalars(
            select(SourceRecord).where(SourceRecord.source_key == f"water:{rows[4][0]}")
        ).one()
    assert (record.version, record.payload["holder"], record.canonical["name"]) == (
        2,
        "王𠮷喆",
        "王𠮷喆",
    )


def test_a_holding_changed_between_two_days_of_one_run_reaches_the_account_and_the_reading(
    cfg: UtilityConfig, drop: UtilityDrop, sessions: sessionmaker[Session]
) -> None:
    """The second day's file is compared with the first day's rows, not with the store (the
    run has seen the account already): a phone cleared and an address moved must still
    make a new version, and that day's reading carries the new address."""
    day1 = drop.as_of - timedelta(days=1)
    drop.write_day(day1, kinds=["water"])
    (second,) = drop.write_day(drop.as_of, kinds=["water"])
    rows = csv_file(second)
    row = next(r for r in rows if r[2])  # an account with a phone
    row[2] = ""
    row[3] = "西湖区文三路１２号3幢2单元101室"  # full-width digits: normalized on the way
    redo(second, rows)
    report, stats = sync(cfg, sessions)
    assert stats["files"] == 2
    assert (report.inserted, report.updated) == (len(rows), 1)
    with sessions() as s:
        record = s.scalars(
            select(SourceRecord).where(SourceRecord.source_key == f"water:{row[0]}")
        ).one()
    assert (record.version, record.payload["phone"], record.payload["address"]) == (
        2,
        None,
        row[3],
    )
    stored = readings(sessions)
    new_address = stored[("water", row[0], drop.as_of.isoformat())][2]
    assert new_address == record.canonical["address"] == "西湖区文三路12号3栋2单元101室"
    assert stored[("water", row[0], day1.isoformat())][2] != new_address
    # A next day with the same holdings, in a new run, is compared with the store: no change.
    day3 = drop.as_of + timedelta(days=1)
    for r in rows:
        r[5] = day3.strftime("%Y%m%d") if r[5].isdigit() else day3.isoformat()
    redo(cfg.inbox / f"water_{day3:%Y%m%d}.csv", rows)
    report, stats = sync(cfg, sessions)
    assert (report.received, stats["readings"]) == (0, len(rows))
    assert readings(sessions)[("water", row[0], day3.isoformat())][2] == new_address


def redo(
    path: Path,
    rows: list[list[str]],
    header: str = "户号,户名,联系电话,地址,表号,抄表日期,本期用量,本期示数",
) -> None:
    """Write ``rows`` as a company CSV with its manifest (a correction or a new day)."""
    text = io.StringIO(newline="")
    text.write(header + "\r\n")
    csv.writer(text).writerows(rows)
    data = text.getvalue().encode("gb18030")
    path.write_bytes(data)
    manifest = {
        "file": path.name,
        "kind": path.name.split("_")[0],
        "format": "csv",
        "encoding": "GB18030",
        "rows": len(rows),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    path.with_name(manifest_name(path.name)).write_text(json.dumps(manifest), encoding="utf-8")


def test_redelivery_and_corrections_are_idempotent(
    cfg: UtilityConfig, drop: UtilityDrop, sessions: sessionmaker[Session]
) -> None:
    (water,) = drop.write_day(drop.as_of, kinds=["water"])
    sync(cfg, sessions)
    first = readings(sessions)
    # The same file dropped again (same name, same content): archived unread.
    for name in (water.name, manifest_name(water.name)):
        shutil.copy(cfg.archive / name, cfg.inbox / name)
    report, stats = sync(cfg, sessions)
    assert (stats["skipped"], stats["readings"], report.received) == (1, 0, 0)
    assert not (cfg.inbox / water.name).exists()
    # A correction under the same name: one usage changes, nothing is added.
    rows = csv_file(cfg.archive / water.name)
    rows[0][6] = "9.999"
    redo(cfg.inbox / water.name, rows)
    sync(cfg, sessions)
    again = readings(sessions)
    assert len(again) == len(first)
    key = ("water", rows[0][0], rows[0][5])
    assert again[key][0] == 9.999
    assert first[key][0] != 9.999


FAULTS = [
    pytest.param("water", "wrong_checksum", "file.checksum_mismatch", id="checksum"),
    pytest.param("water", "wrong_encoding", "file.encoding", id="csv-encoding"),
    pytest.param("power", "wrong_encoding", "file.xml_malformed", id="xml-encoding"),
    pytest.param("gas", "truncated_row", "file.truncated_row", id="csv-truncated"),
    pytest.param("power", "truncated_row", "file.truncated_row", id="xml-truncated"),
    pytest.param("water", "missing_manifest", "manifest.missing", id="no-manifest"),
    pytest.param("power", "doctype", "file.xml_doctype", id="xml-doctype"),
]


@pytest.mark.parametrize(("kind", "fault", "code"), FAULTS)
def test_a_bad_file_is_rejected_whole_and_the_others_load(
    cfg: UtilityConfig,
    drop: UtilityDrop,
    sqlite_url: str,
    kind: str,
    fault: str,
    code: str,
) -> None:
    from canonical_model.store import make_engine, session_factory

    sessions = session_factory(make_engine(sqlite_url))
    good = drop.write_day(drop.as_of - timedelta(days=1))
    (bad,) = drop.write_day(drop.as_of, kinds=[kind], faults={kind: fault})
    _report, stats = sync(cfg, sessions)
    assert (stats["files"], stats["rejected"]) == (3, 1)
    assert not any(source == bad.name for *_, source in readings(sessions).values())
    assert len(readings(sessions)) == manifest_rows(good)
    reason = json.loads((cfg.rejected / f"{bad.name}.reason.json").read_text())
    assert (reason["file"], reason["reason_code"]) == (bad.name, code)
    assert (cfg.rejected / bad.name).exists()
    assert not (cfg.inbox / bad.name).exists()
    assert quarantine(sessions) == {f"file:{bad.name}": code}
    assert bad.name not in load_cursor(sessions, "utility", "accounts")["files"]
    assert sorted(os.listdir(cfg.inbox)) == []
    sync(cfg, sessions)  # nothing left to do, nothing quarantined twice
    assert len(quarantine(sessions)) == 1


def test_a_bad_value_quarantines_its_row_and_the_file_loads(
    cfg: UtilityConfig, drop: UtilityDrop, sessions: sessionmaker[Session]
) -> None:
    (gas,) = drop.write_day(drop.as_of, kinds=["gas"], faults={"gas": "bad_value"})
    _report, stats = sync(cfg, sessions)
    assert quarantine(sessions) == {f"gas:row:{gas.name}:3": "reading.quantity"}
    assert stats["readings"] == manifest_rows([cfg.archive / gas.name]) - 1
    assert (cfg.archive / gas.name).exists()


def test_a_file_whose_manifest_is_still_on_the_way_waits(
    cfg: UtilityConfig, drop: UtilityDrop, sessions: sessionmaker[Session]
) -> None:
    (water,) = drop.write_day(drop.as_of, kinds=["water"], faults={"water": "missing_manifest"})
    report, stats = sync(cfg, sessions, manifest_grace_s=3600)
    assert (report.received, stats["rejected"]) == (0, 0)
    assert (cfg.inbox / water.name).exists()


def test_a_file_committed_but_not_yet_archived_is_archived_unread(
    cfg: UtilityConfig, drop: UtilityDrop, sessions: sessionmaker[Session]
) -> None:
    """The crash window between the last commit and the move to the archive."""
    (water,) = drop.write_day(drop.as_of, kinds=["water"])
    sync(cfg, sessions)
    for name in (water.name, manifest_name(water.name)):  # as if never moved
        shutil.move(cfg.archive / name, cfg.inbox / name)
    report, stats = sync(cfg, sessions)
    assert (stats["skipped"], stats["readings"], report.received) == (1, 0, 0)
    assert sorted(os.listdir(cfg.archive)) == sorted([water.name, manifest_name(water.name)])
    # Killed between the two moves: the manifest alone is left, and follows its file.
    shutil.move(cfg.archive / manifest_name(water.name), cfg.inbox / manifest_name(water.name))
    report, stats = sync(cfg, sessions)
    assert (stats["skipped"], stats["rejected"]) == (1, 0)
    assert os.listdir(cfg.inbox) == []


def test_a_missing_inbox_is_source_unavailable(
    cfg: UtilityConfig, sessions: sessionmaker[Session]
) -> None:
    with pytest.raises(SourceUnavailable, match="does not exist"):
        sync(cfg, sessions)
    adapter = create_adapter(cfg)
    ok, error = adapter.check_connection()
    assert ok is False
    assert "inbox" in (error or "")
    cfg.inbox.mkdir()
    assert create_adapter(cfg).check_connection() == (True, None)


CHILD = """
import os, signal, sys
from pathlib import Path
from adapters.engine import sync_stream
from adapters.utility import UtilityConfig, create_adapter
from canonical_model.store import make_engine, session_factory

def die_on_second_checkpoint(report):
    if report.checkpoints == 2:
        os.kill(os.getpid(), signal.SIGKILL)

root = Path(sys.argv[2])
cfg = UtilityConfig(inbox=root / "inbox", archive=root / "archive", rejected=root / "rejected",
                    rows_per_checkpoint=100, manifest_grace_s=0)
sync_stream(create_adapter(cfg), "accounts", session_factory(make_engine(sys.argv[1])),
            checkpoint_every=1000, progress=die_on_second_checkpoint)
"""


@pytest.mark.integration
def test_kill_9_mid_file_loses_and_duplicates_nothing(
    cfg: UtilityConfig, drop: UtilityDrop, store_url: str, sessions: sessionmaker[Session]
) -> None:
    paths = drop.write_day(drop.as_of, kinds=["power"])  # 70 flats → one chunk
    paths += drop.write_day(drop.as_of, kinds=["water"])
    big = manifest_rows(paths)
    crashed = subprocess.run(
        [sys.executable, "-c", CHILD, store_url, str(cfg.inbox.parent)], cwd=REPO, check=False
    )
    assert crashed.returncode == -9
    # The first file's chunk and its end committed; the second file is still in the inbox.
    assert (cfg.inbox / paths[1].name).exists()
    partial = readings(sessions)
    assert 0 < len(partial) < big
    _report, _stats = sync(cfg, sessions)
    final = readings(sessions)
    assert len(final) == big
    assert count(sessions, UtilityReading) == big  # one row per (kind, account, day)
    assert accounts(sessions) == len([a for a in drop.district.accounts if a.kind != "gas"])
    assert sorted(os.listdir(cfg.inbox)) == []
