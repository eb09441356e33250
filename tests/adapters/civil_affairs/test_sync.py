"""The 民政 adapter through the sync engine, on both ODBC drivers and both canonical stores:
everything arrives once, decoded as the clerks wrote it, and re-runs store only changes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from adapters.civil_affairs import create_adapter
from adapters.engine import load_cursor, sync_stream
from simulators.civil_affairs import CivilAffairsSimulator
from simulators.district import District
from tests.adapters.civil_affairs.helpers import (
    STREAMS,
    config_for,
    history_count,
    quarantined,
    stored,
    sync,
)


def test_first_sync_stores_every_row_once_decoded_as_written(
    source: CivilAffairsSimulator, district: District, sessions: sessionmaker[Session]
) -> None:
    # A small page makes the migration's thousands-of-rows-in-one-second stamp span pages.
    reports = sync(source, sessions, page_size=7, fetch_size=3)
    view = {r.source_key: r.fields for r in district.view("civil_affairs")}
    for stream in STREAMS:
        rows = source.rows(stream)
        records = stored(sessions, stream)
        assert reports[stream].received == len(rows)
        assert reports[stream].quarantined == 0
        assert sorted(records) == sorted(r["case_no"] for r in rows)
        for key, record in records.items():
            assert record.version == 1
            for field in ("name", "id_number", "address", "phone"):
                assert record.payload[field] == view[key][field], (stream, field)
            amount = record.canonical["facts"].get("monthly_amount")
            assert amount is None or amount.split(".")[1] == "00"  # same on both drivers
    assert sum(len(stored(sessions, s)) for s in STREAMS) > 200


def test_canonical_fields_tags_and_facts(
    sqlite_source: CivilAffairsSimulator, sqlite_sessions: sessionmaker[Session]
) -> None:
    sync(sqlite_source, sqlite_sessions)
    dibao = stored(sqlite_sessions, "dibao")
    active = [r for r in dibao.values() if r.payload["status"] == "在册"]
    assert active
    for record in active:
        c = record.canonical
        assert c["tags"] == ["dibao"]
        assert c["facts"]["program"] == "dibao"
        assert c["facts"]["benefit_status"] == "active"
        amount = c["facts"]["monthly_amount"]
        assert amount.endswith(".00")
        assert float(amount) > 0
        assert c["facts"]["dibao_household_no"].startswith("DB")
    for record in stored(sqlite_sessions, "deaths").values():
        assert record.canonical["status"] == "deceased"
        assert record.canonical["tags"] == ["deceased"]
        assert record.canonical["facts"]["death_date"] <= record.canonical["facts"]["registered_on"]
    grades = {
        r.canonical["facts"]["disability_grade"]
        for r in stored(sqlite_sessions, "disability").values()
    }
    assert grades <= {1, 2, 3, 4}
    assert all(
        r.canonical["tags"] == ["aged_80_plus"]
        for r in stored(sqlite_sessions, "elderly_allowance").values()
    )


def test_mistyped_resident_ids_are_kept_raw_with_their_issue(
    sqlite_source: CivilAffairsSimulator, sqlite_sessions: sessionmaker[Session]
) -> None:
    sync(sqlite_source, sqlite_sessions)
    records = [r for s in STREAMS for r in stored(sqlite_sessions, s).values()]
    with_issue = [r.canonical for r in records if r.canonical["resident_id_issue"]]
    assert with_issue, "the district's clerks mistype about 3 % of IDs"
    for c in with_issue:
        assert c["resident_id"] is None
        assert c["resident_id_raw"]
        assert c["resident_id_issue"] in {"check_digit", "birth_date", "region", "length"}
        assert c["name"]


def test_rerun_after_k_changes_updates_exactly_k_and_keeps_history(
    source: CivilAffairsSimulator, sessions: sessionmaker[Session]
) -> None:
    sync(source, sessions)
    before = {k: r.payload["phone"] for k, r in stored(sessions, "dibao").items()}
    touched = source.touch(5, "dibao")
    reports = sync(source, sessions)
    assert reports["dibao"].updated == 5
    assert reports["dibao"].inserted == 0
    assert all(reports[s].updated == 0 and reports[s].inserted == 0 for s in STREAMS[1:])
    assert history_count(sessions, "dibao") == 5
    after = stored(sessions, "dibao")
    changed = {k for k, r in after.items() if r.payload["phone"] != before[k]}
    assert len(changed) == 5
    assert {after[k].payload["id"] for k in changed} == set(touched)
    assert all(after[k].version == 2 for k in changed)


def test_a_save_that_changes_nothing_is_not_a_new_version(
    sqlite_source: CivilAffairsSimulator, sqlite_sessions: sessionmaker[Session]
) -> None:
    sync(sqlite_source, sqlite_sessions)
    sqlite_source.touch(4, "disability", bump_only=True)
    report = sync(sqlite_source, sqlite_sessions, ["disability"])["disability"]
    assert (report.updated, report.inserted) == (0, 0)
    assert report.unchanged >= 4
    assert history_count(sqlite_sessions, "disability") == 0


def test_new_deaths_and_new_dibao_approvals_arrive(
    sqlite_source: CivilAffairsSimulator, sqlite_sessions: sessionmaker[Session]
) -> None:
    sync(sqlite_source, sqlite_sessions)
    deaths = sqlite_source.add_deaths(3)
    approvals = sqlite_source.add_dibao(2)
    reports = sync(sqlite_source, sqlite_sessions)
    assert reports["deaths"].inserted == 3
    assert reports["elderly_allowance"].updated == 3  # their allowance stops
    assert reports["dibao"].inserted == 2
    new_deaths = stored(sqlite_sessions, "deaths")
    assert all(new_deaths[c].canonical["status"] == "deceased" for c in deaths)
    assert all(
        stored(sqlite_sessions, "dibao")[c].canonical["tags"] == ["dibao"] for c in approvals
    )
    stopped = [
        r
        for r in stored(sqlite_sessions, "elderly_allowance").values()
        if r.payload["status"] == "停发"
    ]
    assert len(stopped) >= 3


def test_rows_changed_during_the_sync_are_all_stored_by_the_next_run(
    sqlite_source: CivilAffairsSimulator, sqlite_sessions: sessionmaker[Session]
) -> None:
    adapter = create_adapter(config_for(sqlite_source, page_size=20))
    changed: list[int] = []

    def clerk_at_work(_report: Any) -> None:
        if len(changed) < 3:  # after each of the first checkpoints, a clerk saves rows
            changed.extend(sqlite_source.touch(4, "elderly_allowance"))

    sync_stream(
        adapter, "elderly_allowance", sqlite_sessions, checkpoint_every=25, progress=clerk_at_work
    )
    adapter.close()
    sync(sqlite_source, sqlite_sessions, ["elderly_allowance"])
    truth = {
        r["case_no"]: r["phone"]
        for r in sqlite_source.rows("elderly_allowance", ("case_no", "phone"))
    }
    records = stored(sqlite_sessions, "elderly_allowance")
    assert {k: r.payload["phone"] for k, r in records.items()} == truth
    assert changed


def test_same_second_stamp_behind_the_cursor_is_not_skipped(
    sqlite_source: CivilAffairsSimulator, sqlite_sessions: sessionmaker[Session]
) -> None:
    """A row saved in the cursor's own second, with a lower id, after the cursor passed:
    a strict ``(updated_at, id) > cursor`` would never see it."""
    sync(sqlite_source, sqlite_sessions, ["dibao"], lookback_s=0)
    cursor = load_cursor(sqlite_sessions, "civil_affairs", "dibao")
    behind = min(r["id"] for r in sqlite_source.rows("dibao") if r["id"] < cursor["id"])
    sqlite_source.touch(1, "dibao", at=datetime.fromisoformat(cursor["updated_at"]), ids=[behind])
    report = sync(sqlite_source, sqlite_sessions, ["dibao"], lookback_s=0)["dibao"]
    assert report.updated == 1


def test_late_commit_with_an_older_stamp_is_read_within_the_lookback(
    sqlite_source: CivilAffairsSimulator, sqlite_sessions: sessionmaker[Session]
) -> None:
    sync(sqlite_source, sqlite_sessions, ["disability"])
    cursor = load_cursor(sqlite_sessions, "civil_affairs", "disability")

    late = datetime.fromisoformat(cursor["updated_at"]) - timedelta(seconds=90)
    sqlite_source.touch(2, "disability", at=late)
    report = sync(sqlite_source, sqlite_sessions, ["disability"], lookback_s=300)["disability"]
    assert report.updated == 2


def test_rows_without_a_stamp_are_read_too(
    sqlite_source: CivilAffairsSimulator, sqlite_sessions: sessionmaker[Session]
) -> None:
    sqlite_source.insert_row(
        "tekun", case_no="MZLEGACY0001", name="赵建国", id_number="330106194501011234",
        gender="1", status="在册", updated_at=None,
    )  # fmt: skip
    first = sync(sqlite_source, sqlite_sessions, ["tekun"])["tekun"]
    assert "MZLEGACY0001" in stored(sqlite_sessions, "tekun")
    again = sync(sqlite_source, sqlite_sessions, ["tekun"])["tekun"]
    assert first.inserted == sqlite_source.count("tekun")
    assert again.inserted == 0


def test_unusable_rows_are_quarantined_and_the_rest_stored(
    sqlite_source: CivilAffairsSimulator, sqlite_sessions: sessionmaker[Session]
) -> None:
    sqlite_source.insert_row("dibao", case_no="MZNOID000001", name=None, id_number="33010619")
    sqlite_source.insert_row("dibao", case_no="MZNOID000002", name="钱", id_number=None)
    sqlite_source.insert_row("dibao", case_no=None, name="孙丽", id_number="330106195001011234")
    report = sync(sqlite_source, sqlite_sessions, ["dibao"])["dibao"]
    entries = quarantined(sqlite_sessions, "dibao")
    assert report.quarantined == 3
    assert sorted(e.reason_code for e in entries) == [
        "identity.insufficient",
        "identity.insufficient",
        "schema.missing_key",
    ]
    assert all("孙丽" not in e.reason and "3301" not in e.reason for e in entries)
    assert len(stored(sqlite_sessions, "dibao")) == sqlite_source.count("dibao") - 3
    sync(sqlite_source, sqlite_sessions, ["dibao"])  # re-delivered by the lookback: kept once
    assert len(quarantined(sqlite_sessions, "dibao")) == 3
