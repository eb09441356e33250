"""The utility_reading table and its migration (0004), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from adapters.utility.mapping import ReadingRow, upsert_readings
from canonical_model.store import check, downgrade, upgrade
from canonical_model.utility import UtilityReading


def reading(**overrides: object) -> UtilityReading:
    values: dict[str, object] = {
        "kind": "water",
        "account": "3301W000000001",
        "reading_date": date(2025, 1, 1),
        "usage": 0.125,
        "meter_reading": 1234.5,
        "address_normalized": "西湖区文三路259号3栋2单元302室",
        "source_file": "water_20250101.csv",
    }
    return UtilityReading(**{**values, **overrides})


def test_a_reading_round_trips_and_its_day_is_unique(sessions: sessionmaker[Session]) -> None:
    with sessions() as s, s.begin():
        s.add(reading())
        s.add(reading(kind="power", usage=6.5))
    with sessions() as s:
        got = s.query(UtilityReading).filter_by(kind="water").one()
        assert (got.reading_date, got.usage, got.meter_reading) == (date(2025, 1, 1), 0.125, 1234.5)
        assert got.address_normalized == "西湖区文三路259号3栋2单元302室"
    with pytest.raises(IntegrityError), sessions() as s, s.begin():
        s.add(reading(usage=9.0))


def test_the_migration_matches_the_model_and_downgrades(engine: Engine) -> None:
    drift = [d for d in check(engine).drift if "utility_reading" in d]
    assert drift == []
    downgrade(engine, "0003")
    assert "utility_reading" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert "utility_reading" in inspect(engine).get_table_names()


def test_upsert_readings_stores_every_group_and_keeps_a_repeated_readings_last_value(
    sessions: sessionmaker[Session],
) -> None:
    # 250 readings: two full statements of 100 on SQLite and a tail of 50 row by row; the
    # repeats sit inside a group, across a group boundary and in the tail.
    rows: list[ReadingRow] = [
        ("gas", f"3301G{n:09d}", "2025-01-02", n / 8, None, "上城区解放路1号", "gas_20250102.csv")
        for n in range(247)
    ]
    rows.insert(10, (*rows[5][:3], 99.5, 1.0, None, "gas_20250102.csv"))
    rows.insert(100, (*rows[99][:3], 77.25, 2.0, "改过的地址", "gas_20250102.csv"))
    rows.append((*rows[200][:3], 55.0, 3.0, None, "gas_20250102.csv"))
    with sessions() as s, s.begin():
        upsert_readings(s, rows)
    with sessions() as s:
        got = {r.account: r for r in s.query(UtilityReading).filter_by(kind="gas")}
    assert len(got) == 247
    assert (got["3301G000000005"].usage, got["3301G000000005"].meter_reading) == (99.5, 1.0)
    assert got["3301G000000098"].address_normalized == "改过的地址"
    assert got["3301G000000098"].usage == 77.25
    assert got["3301G000000198"].usage == 55.0
    assert got["3301G000000246"].reading_date == date(2025, 1, 2)
    assert got["3301G000000246"].address_normalized == "上城区解放路1号"
