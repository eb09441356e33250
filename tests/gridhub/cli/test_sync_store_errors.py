"""A store error during a sync must reach the console without the rows being written.

PostgreSQL quotes offending values in its messages (``invalid input syntax … "张三"``), and
SQLAlchemy appends the bound parameters, so both are checked against a real server.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from canonical_model.store import make_engine
from gridhub.cli.sync import store_error_summary

SECRET = "张三110101199003071234"


@pytest.mark.integration
def test_store_error_names_class_and_sqlstate_but_no_values(pg_url: str) -> None:
    engine = make_engine(pg_url)
    with pytest.raises(DBAPIError) as caught, engine.connect() as conn:
        conn.execute(text("SELECT CAST(:v AS integer)"), {"v": SECRET})
    engine.dispose()

    summary = store_error_summary(caught.value)

    assert "SQLSTATE 22P02" in summary
    assert summary.startswith("InvalidTextRepresentation")
    assert SECRET not in summary
    assert "张三" not in summary


@pytest.mark.integration
def test_engine_hides_bound_parameters_from_error_text(pg_url: str) -> None:
    engine = make_engine(pg_url)
    with pytest.raises(DBAPIError) as caught, engine.connect() as conn:
        conn.execute(text("SELECT 1 / (:v - :v)"), {"v": 110101199003071234})
    engine.dispose()

    message = str(caught.value)
    assert "hide_parameters=True" in message
    assert "110101199003071234" not in message


def test_summary_of_a_non_driver_error_is_its_class() -> None:
    class Boom(Exception):
        pass

    assert store_error_summary(Boom("张三")).startswith("Boom;")
