"""The utility_reading table and its migration (0004), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

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
