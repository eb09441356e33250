"""From benchmark outputs to report entries: which row, which peer, which verdict, which stamp."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bench.report import assemble
from bench.report.registry import Benchmark, Figure, Peer, Target
from bench.report.runner import BenchRun

ROWS = [
    {"figure": "sync rate into SQLite", "unit": "records/s", "value": 900.0, "data_size": "2,000"},
    {"figure": "extract rate, lxml decoder", "unit": "records/s", "value": 8000.0,
     "data_size": "10,000"},
    {"figure": "extract rate, zeep decoder", "unit": "records/s", "value": 1000.0,
     "data_size": "10,000"},
    {"figure": "sync rate into SQLite", "unit": "records/s", "value": 1100.0,
     "data_size": "10,000"},
    {"figure": "measures: a", "unit": "s", "value": 0.2, "data_size": "1M tasks"},
    {"figure": "measures: b", "unit": "s", "value": 0.7, "data_size": "1M tasks"},
    {"figure": "memory growth 1 → 5", "unit": "MiB", "value": 3.0, "target": "flat",
     "met": True, "data_size": "5"},
]  # fmt: skip
RATE = Figure("sync", "records/s", "throughput", r"^sync rate into SQLite$", Target(">=", 1000))
BENCH = Benchmark(name="fake", issue=3, summary="fake", figures=(RATE,), call="x:y")


def _run(output: Any, **kw: Any) -> BenchRun:
    return BenchRun(name="fake", status="ok", seconds=1.0, output=output,
                    load_average_at_start=[1.0, 1.0, 1.0],
                    load_average_at_end=[2.0, 1.0, 1.0], **kw)  # fmt: skip


def test_the_largest_size_is_the_last_row() -> None:
    entry = assemble.figure(BENCH, RATE, ROWS, None)
    assert (entry["gridhub"], entry["data_size"], entry["met"]) == (1100.0, "10,000", True)


def test_max_picks_the_slowest_measure_for_an_upper_bound() -> None:
    spec = Figure("slowest", "s", "latency", r"^measures: ", Target("<", 0.5), pick="max")
    entry = assemble.figure(BENCH, spec, ROWS, None)
    assert (entry["gridhub"], entry["met"]) == (0.7, False)


def test_a_peer_from_another_row_of_the_same_benchmark() -> None:
    spec = Figure("extract", "records/s", "throughput", r"lxml", None,
                  Peer("zeep", match=r"zeep"))  # fmt: skip
    entry = assemble.figure(BENCH, spec, ROWS, None)
    assert entry["peer"] == {"name": "zeep", "value": 1000.0}
    assert entry["met"] is None
    assert entry["target"] is None


def test_a_peer_in_the_same_row_and_a_target_relative_to_it() -> None:
    rows = [{"figure": "pairwise_f1", "dataset": "febrl3", "unit": "ratio", "gridhub": 0.998,
             "splink": 0.999, "data_size": "5,000"},
            {"figure": "pairwise_f1", "dataset": "febrl4", "unit": "ratio", "gridhub": 1.0,
             "splink": 0.99, "data_size": "5,000 x 5,000"}]  # fmt: skip
    spec = Figure("F1", "ratio", "quality", r"^pairwise_f1$", Target(">="),
                  Peer("Splink 5", key="splink"), where=(("dataset", "febrl3"),),
                  value_key="gridhub")  # fmt: skip
    entry = assemble.figure(BENCH, spec, rows, None)
    assert entry["peer"] == {"name": "Splink 5", "value": 0.999}
    assert entry["met"] is False
    assert entry["target"] == ">= Splink 5"


def test_a_text_target_takes_the_benchmarks_own_verdict() -> None:
    spec = Figure("growth", "MiB", "memory", r"^memory growth", Target("flat", text="flat"))
    assert assemble.figure(BENCH, spec, ROWS, None)["met"] is True


def test_a_failed_benchmark_gives_no_value_and_says_why() -> None:
    run = _run(None, error="exit code 1: boom")
    run.status = "failed"
    entry = assemble.figure(BENCH, RATE, [], run)
    assert entry["gridhub"] is None
    assert entry["met"] is None
    assert "failed" in entry["missing"]
    assert "boom" in entry["missing"]


def test_rows_of_either_output_shape() -> None:
    assert assemble.rows_of({"figures": ROWS[:1]}) == ROWS[:1]
    assert assemble.rows_of(ROWS[:2]) == ROWS[:2]
    assert assemble.rows_of({"runs": []}) == []
    assert assemble.rows_of(None) == []


def test_every_figure_carries_machine_load_date_and_commit() -> None:
    started = datetime(2026, 11, 22, 21, 0, tzinfo=UTC)
    machine = {"cpu_model": "X", "cores": 2, "ram_gib": 24.0}
    report = assemble.build([BENCH], [_run({"figures": ROWS})], "quick", started=started,
                            machine_info=machine,
                            commit={"commit": "abc", "dirty": False})  # fmt: skip
    (entry,) = report["figures"]
    assert entry["machine"] == machine
    assert entry["load_average_at_start"] == [1.0, 1.0, 1.0]
    assert entry["load_average_at_end"] == [2.0, 1.0, 1.0]
    assert entry["date"] == "2026-11-22T21:00:00+00:00"
    assert entry["git_commit"] == "abc"  # the run has none of its own: an older report's run
    assert entry["git_dirty"] is False
    assert entry["calibration_cpu_s"] is None
    assert entry["at_target_size"] is False
    assert report["benchmarks"][0]["all_figures"][0]["figure"] == "sync rate into SQLite"
    assert report["mode"] == "quick"
    assert report["schema"] == assemble.SCHEMA


def test_a_figure_carries_its_own_runs_commit_and_calibration() -> None:
    run = _run({"figures": ROWS}, calibration_cpu_s=0.41, calibration_samples=[0.5, 0.41],
               git_commit="f" * 40, git_dirty=True)  # fmt: skip
    report = assemble.build([BENCH], [run], "full", machine_info={},
                            commit={"commit": "abc", "dirty": False})  # fmt: skip
    (entry,) = report["figures"]
    assert (entry["git_commit"], entry["git_dirty"]) == ("f" * 40, True)
    assert entry["calibration_cpu_s"] == 0.41
    assert report["benchmarks"][0]["calibration_samples"] == [0.5, 0.41]


def test_a_benchmark_that_did_not_run_is_listed_as_such() -> None:
    report = assemble.build([BENCH], [], "full", machine_info={}, commit={"commit": None})
    assert report["benchmarks"][0]["status"] == "not run"
    assert report["figures"][0]["gridhub"] is None


@pytest.mark.parametrize(("previous_mode", "kept"), [("quick", True), ("full", False)])
def test_only_keeps_the_other_benchmarks_of_the_same_mode(previous_mode: str, kept: bool) -> None:
    previous = {"mode": previous_mode,
                "figures": [{"benchmark": "api", "name": "old api"},
                            {"benchmark": "hukou", "name": "old hukou"}],
                "benchmarks": [{"name": "api"}, {"name": "hukou"}]}  # fmt: skip
    fresh = {"mode": "quick", "figures": [{"benchmark": "hukou", "name": "new hukou"}],
             "benchmarks": [{"name": "hukou"}]}  # fmt: skip
    merged = assemble.merge(previous, fresh, ["hukou", "api"])
    names = [f["name"] for f in merged["figures"]]
    assert names == (["new hukou", "old api"] if kept else ["new hukou"])


def test_beside_a_peer_takes_the_largest_size_the_peer_ran_at() -> None:
    def row(size: str, tool: str, value: float) -> dict[str, Any]:
        return {"benchmark": f"district {size}", "tool": tool, "figure": "f1", "value": value}

    rows = [
        row("10,000", "gridhub (store)", 0.99),
        row("10,000", "splink 5", 0.98),
        row("100,000", "gridhub (store)", 0.995),
        row("100,000", "splink 5", 0.996),
        row("1,000,000", "gridhub (store)", 0.97),
    ]  # fmt: skip
    store = (("benchmark", r"district [\d,]+"), ("tool", r"gridhub \(store.*"))
    beside = Figure("F1 beside Splink", "ratio", "quality", "^f1$", Target(">="),
                    Peer("Splink", match="^f1$", where=(("tool", "splink.*"),),
                         same=("benchmark",)),
                    where=store, with_peer=True)  # fmt: skip
    entry = assemble.figure(BENCH, beside, rows, None)
    assert (entry["gridhub"], entry["peer"]["value"]) == (0.995, 0.996)
    assert entry["met"] is False
    assert entry["data_size"] == "district 100,000"
    largest = Figure("F1", "ratio", "quality", "^f1$", Target(">=", 0.99), where=store)
    entry = assemble.figure(BENCH, largest, rows, None)
    assert (entry["gridhub"], entry["met"]) == (0.97, False)


def test_rows_are_gathered_from_several_places_of_a_document() -> None:
    output = {"figures": [{"figure": "a"}], "febrl": {"figures": [{"figure": "b"}]}}
    rows = assemble.rows_of(output, (("febrl", "figures"), ("figures",), ("missing", "x")))
    assert [r["figure"] for r in rows] == ["b", "a"]
