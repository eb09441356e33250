"""The 民政 benchmark's table: the rate and total CPU of the run as it runs, the CPU by part
of the second, timed run beside them; results recorded before the split still render."""

from __future__ import annotations

from typing import Any

from bench.adapters.civil_affairs import markdown

_MACHINE = {"cores": 2}


def _figure(**extra: Any) -> dict[str, Any]:
    return {
        "figure": "end-to-end sync rate, sqlite ODBC → postgresql store",
        "unit": "records/s",
        "value": 17046.0,
        "target": ">= 20000",
        "data_size": "100000 persons, 13531 records",
        "cpu_rate": 9700.0,
        "machine": _MACHINE,
        **extra,
    }


def test_the_rated_run_gives_the_total_and_the_timed_run_the_parts() -> None:
    plain = {"total_cpu": 103.0, "map_worker": 50.0, "store_server": 33.0}
    parts = {"total_cpu": 142.0, "map_worker": 65.0, "extract": 30.0, "map": 4.0,
             "map_stolen": 14.0, "engine": 29.0, "store_server": 34.0}  # fmt: skip
    row = markdown([_figure(us_per_record=plain,
                            timed_run={"rate": 12252.0, "us_per_record": parts})])  # fmt: skip
    line = row.splitlines()[-1]
    assert "| 17046.0 records/s |" in line
    assert "| 103; by part (a second, timed run: 142) extract 30 + map 4 + " in line
    assert "map in worker 65 + engine 29; PostgreSQL's own 33 (with it 136: at most 14,706" in line


def test_a_result_recorded_before_the_timed_run_still_renders() -> None:
    old = {"total_cpu": 106.0, "extract": 19.0, "map": 3.0, "map_stolen": 4.0,
           "map_worker": 59.0, "engine": 21.0, "store_server": 32.0}  # fmt: skip
    line = markdown([_figure(us_per_record=old)]).splitlines()[-1]
    assert "| 106; by part (this run) extract 19 + map 3 + " in line


def test_repeated_runs_show_the_median_and_the_range() -> None:
    plain = {"total_cpu": 103.0, "map_worker": 50.0, "store_server": 33.0}
    runs = [15100.0, 17046.0, 12800.0, 19020.0, 16900.0]
    line = markdown([_figure(us_per_record=plain, runs=runs)]).splitlines()[-1]
    assert "| 17046.0 records/s |" in line
    assert "| median of 5 runs (12,800–19,020/s), that run's 103; PostgreSQL's own 33" in line
