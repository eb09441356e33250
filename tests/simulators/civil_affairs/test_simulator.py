"""The civil-affairs simulator: the database a legacy 民政 system would leave, and its knobs."""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from simulators.civil_affairs import (
    CATEGORY_TABLES,
    MIGRATED_AT,
    TABLES,
    CivilAffairsSimulator,
)
from simulators.district import District
from tests.support import postgres


@pytest.fixture(scope="module")
def district() -> District:
    return District(persons=800, seed=5)


@pytest.fixture
def sim(tmp_path: Path, district: District) -> CivilAffairsSimulator:
    simulator = CivilAffairsSimulator.sqlite(tmp_path / "ca.db", seed=5)
    simulator.build(district)
    return simulator


@pytest.fixture
def pg_sim(district: District) -> Iterator[CivilAffairsSimulator]:
    postgres.ensure_running()
    with postgres.temporary_database() as name:
        simulator = CivilAffairsSimulator.postgresql(name, seed=5, user=postgres.USER)
        simulator.build(district)
        yield simulator


def test_tables_hold_the_district_view_by_category(
    sim: CivilAffairsSimulator, district: District
) -> None:
    expected = collections.Counter(
        CATEGORY_TABLES[r.fields["category"]]
        for r in district.view("civil_affairs")
        if r.fields["category"] in CATEGORY_TABLES
    )
    assert {t: sim.count(t) for t in TABLES} == {t: expected[t] for t in TABLES}


def test_sqlite_text_is_gb18030_bytes_and_columns_carry_chinese_comments(
    sim: CivilAffairsSimulator, district: District
) -> None:
    view = {r.source_key: r.fields for r in district.view("civil_affairs")}
    with sqlite3.connect(sim.db.path) as conn:  # type: ignore[attr-defined]
        conn.text_factory = bytes
        rows = conn.execute("SELECT case_no, name, address, typeof(name) FROM dibao").fetchall()
        ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'deaths'").fetchone()[0]
        comments = conn.execute("SELECT table_name, column_name FROM sys_column_comment").fetchall()
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert rows
    for case_no, name, address, kind in rows:
        assert kind == b"text"
        fields = view[case_no.decode()]
        assert name.decode("gb18030") == fields["name"]
        assert address.decode("gb18030") == fields["address"]
    assert "死亡日期".encode() in ddl
    assert len(comments) == sum(len(t.columns) + 1 for t in TABLES.values())
    assert journal == b"delete"  # a writer's exclusive lock blocks readers, as on the real file


@pytest.mark.integration
def test_postgres_database_has_comments_and_the_same_rows(
    pg_sim: CivilAffairsSimulator, sim: CivilAffairsSimulator
) -> None:
    with psycopg.connect(postgres.url_for(pg_sim.db.dbname).replace("+psycopg", "")) as conn:  # type: ignore[attr-defined]
        comment = conn.execute(
            "SELECT col_description('disability'::regclass, attnum) FROM pg_attribute "
            "WHERE attrelid = 'disability'::regclass AND attname = 'disability_grade'"
        ).fetchone()
    assert comment == ("残疾等级（1-4级，1级最重）",)
    columns = ("case_no", "name", "id_number", "address")
    for table in TABLES:
        assert pg_sim.rows(table, columns) == sim.rows(table, columns)


def test_the_same_district_builds_the_same_database(
    tmp_path: Path, district: District, sim: CivilAffairsSimulator
) -> None:
    again = CivilAffairsSimulator.sqlite(tmp_path / "again.db", seed=5)
    again.build(district)
    columns = TABLES["disability"].column_names
    assert again.rows("disability", columns) == sim.rows("disability", columns)


def test_the_migration_stamps_many_rows_with_one_second(sim: CivilAffairsSimulator) -> None:
    stamps = collections.Counter(
        str(r["updated_at"]) for t in TABLES for r in sim.rows(t, ("updated_at",))
    )
    stamp, count = stamps.most_common(1)[0]
    assert stamp == str(MIGRATED_AT)
    assert count > 20


def test_touch_changes_n_rows_under_one_new_stamp(sim: CivilAffairsSimulator) -> None:
    before = {r["id"]: r for r in sim.rows("dibao", ("id", "phone", "updated_at"))}
    newest = max(str(r["updated_at"]) for r in before.values())
    touched = sim.touch(3, "dibao")
    after = {r["id"]: r for r in sim.rows("dibao", ("id", "phone", "updated_at"))}
    changed = {i for i in after if after[i] != before[i]}
    assert changed == set(touched)
    assert len({str(after[i]["updated_at"]) for i in changed}) == 1
    assert all(str(after[i]["updated_at"]) > newest for i in changed)
    assert all(after[i]["phone"] != before[i]["phone"] for i in changed)


def test_new_deaths_stop_the_allowance(sim: CivilAffairsSimulator) -> None:
    deaths = sim.count("deaths")
    cases = sim.add_deaths(2)
    assert sim.count("deaths") == deaths + 2
    registered = {r["case_no"]: r for r in sim.rows("deaths", ("case_no", "id_number", "status"))}
    stopped = {
        r["id_number"]
        for r in sim.rows("elderly_allowance", ("id_number", "status"))
        if r["status"] == "停发"
    }
    assert {registered[c]["id_number"] for c in cases} <= stopped
    assert all(registered[c]["status"] == "已故" for c in cases)
    assert len(sim.add_dibao(2)) == 2


def test_lock_blocks_readers_until_released(sim: CivilAffairsSimulator) -> None:
    lock = sim.lock()
    reader = sqlite3.connect(sim.db.path, timeout=0.1)  # type: ignore[attr-defined]
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        reader.execute("SELECT COUNT(*) FROM dibao").fetchone()
    lock.release()
    assert reader.execute("SELECT COUNT(*) FROM dibao").fetchone()[0] == sim.count("dibao")
    reader.close()


def test_offline_takes_the_file_away_and_brings_it_back(sim: CivilAffairsSimulator) -> None:
    path: Path = sim.db.path  # type: ignore[attr-defined]
    with sim.offline():
        assert not path.exists()
    assert sim.count("dibao") > 0


def test_wrong_encodings_only_where_the_backend_allows(sim: CivilAffairsSimulator) -> None:
    ids = sim.corrupt_encoding(1, "disability", utf8=True)
    with sqlite3.connect(sim.db.path) as conn:  # type: ignore[attr-defined]
        conn.text_factory = bytes
        (raw,) = conn.execute("SELECT name FROM disability WHERE id = ?", ids).fetchone()
    raw.decode("utf-8")  # written by a UTF-8 client
    pg = CivilAffairsSimulator.postgresql("never_created")
    with pytest.raises(ValueError, match="SQLite"):
        pg.build(District(persons=50, seed=1), bad_encoding=0.1)
