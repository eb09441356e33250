"""The shared adapter-benchmark harness: the measured child, memory, rows and stores."""

from __future__ import annotations

import os

import psutil
import psycopg
import pytest
from sqlalchemy import create_engine, inspect

from bench.adapters import harness
from tests.support import postgres


def test_a_child_answers_and_its_peak_memory_is_seen_from_outside() -> None:
    result, peak = harness.run_child("tests.bench.adapters.fake_child", {"n": 21}, "pss")
    assert result == {"doubled": 42, "held": 64 * 2**20}
    assert peak >= 64


def test_a_failing_child_raises() -> None:
    with pytest.raises(RuntimeError, match="benchmark child failed"):
        harness.run_child("tests.bench.adapters.fake_child", {}, "rss")  # no "n": KeyError


@pytest.mark.parametrize("how", ["pss_tree", "pss", "rss"])
def test_memory_of_this_process(how: harness.Memory) -> None:
    assert harness.memory_mb(psutil.Process(os.getpid()), how) > 1


@pytest.mark.parametrize(
    ("target", "lower", "value", "met"),
    [
        pytest.param(5000, False, 5000.0, True, id="rate-reached"),
        pytest.param(5000, False, 4999.0, False, id="rate-short"),
        pytest.param(500, True, 499.0, True, id="memory-under"),
        pytest.param(500, True, 501.0, False, id="memory-over"),
        pytest.param("flat", False, 3.0, None, id="text-target-no-verdict"),
    ],
)
def test_figure_verdicts(target: object, lower: bool, value: float, met: bool | None) -> None:
    row = harness.figure("f", "u", value, "1 record", target, lower_is_better=lower)
    assert row.get("met") is met


def test_figure_rounds_and_keeps_extras() -> None:
    row = harness.figure("rate", "records/s", 1234.567, "10 persons", None, cpu_us=3)
    assert row == {"figure": "rate", "unit": "records/s", "value": 1234.6, "target": None,
                   "data_size": "10 persons", "cpu_us": 3}  # fmt: skip


def test_table_and_conditions() -> None:
    rows = [harness.figure("rate", "records/s", 900.0, "2,000 persons", 5000)]
    assert (
        harness.markdown_table(rows)[2] == "| rate | 2,000 persons | 900.0 | records/s | 5000 ✗ |"
    )
    machine = {"cores": 2, "cpu": "X", "load_average_at_start": [4.0, 1, 1]}
    assert harness.conditions(machine) == "2 cores (X), load average 4.0 at start."


def test_machine_records_the_load() -> None:
    info = harness.machine()
    assert info["cores"] == os.cpu_count()
    assert len(info["load_average_at_start"]) == 3


def test_a_sqlite_store_is_migrated_and_removed() -> None:
    with harness.store("sqlite", "bench-harness-test-") as url:
        engine = create_engine(url)
        assert "source_record" in inspect(engine).get_table_names()
        engine.dispose()
        path = url.removeprefix("sqlite:///")
        assert os.path.exists(path)
    assert not os.path.exists(path)


def test_the_database_s_own_cpu_is_counted_from_its_processes() -> None:
    """A sync's store works in PostgreSQL's processes, which the sync's own CPU times leave
    out; the harness reads them from outside, the backend of an open connection included."""
    postgres.ensure_running()
    where = {"host": postgres.HOST, "port": postgres.PORT, "user": postgres.USER}
    with psycopg.connect(dbname="postgres", autocommit=True, **where) as connection:
        backend = connection.execute("SELECT pg_backend_pid()").fetchone()
        before = harness.postgres_cpu()
        assert backend is not None
        connection.execute("SELECT count(*) FROM generate_series(1, 3000000)").fetchone()
        assert backend[0] in harness.postgres_cpu()  # the work was done where we look
        assert harness.postgres_cpu_since(before) > 0
