"""The runner: each benchmark in its own process, a crash or a hang costs one row."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from bench.report import conditions, runner
from bench.report.registry import Benchmark, Figure
from tests.bench import fake_bench

FIG = (Figure("fake", "records/s", "throughput", "fake rate"),)


def bench(**kw: object) -> Benchmark:
    return Benchmark(name="fake", issue=0, summary="fake", figures=FIG, **kw)  # type: ignore[arg-type]


def test_a_called_benchmark_gives_its_output_and_its_cost(tmp_path: Path) -> None:
    run = runner.run_one(bench(call="tests.bench.fake_bench:ok"), "quick", tmp_path)
    assert run.status == "ok", run.error
    assert run.output["figures"][0]["data_size"] == "10 records"  # quick reached the call
    assert run.returncode == 0
    assert run.peak_rss_mb is not None
    assert run.peak_rss_mb > 0
    assert run.cpu_seconds is not None
    assert len(run.load_average_at_start) == 3
    assert len(run.calibration_samples) == conditions.CALIBRATION_REPEATS
    assert run.calibration_cpu_s == min(run.calibration_samples)
    assert run.git_commit == conditions.git_commit()["commit"]
    assert "calibration_cpu_s" in run.summary()


def test_a_crash_is_reported_with_the_end_of_its_log(tmp_path: Path) -> None:
    run = runner.run_one(
        bench(call="tests.bench.fake_bench:crash"), "full", tmp_path, calibration_repeats=1
    )
    assert run.status == "failed"
    assert run.output is None
    assert "fell over" in (run.error or "")
    assert run.calibration_cpu_s is not None  # taken before it ran, whatever became of it


def test_a_hang_is_ended_with_its_whole_process_group(tmp_path: Path) -> None:
    run = runner.run_one(
        bench(call="tests.bench.fake_bench:hang"), "full", tmp_path, 3.0, calibration_repeats=1
    )
    assert run.status == "timeout"
    assert run.output is None
    leftovers = [p for p in psutil.process_iter(["cmdline"])
                 if "tests.bench.fake_bench:hang" in " ".join(p.info["cmdline"] or [])]  # fmt: skip
    assert leftovers == []


@pytest.mark.parametrize("out", ["flag", "constant"])
def test_a_command_line_benchmark_writes_to_the_report_not_to_its_own_file(
    tmp_path: Path, out: str
) -> None:
    spec = bench(module="tests.bench.fake_bench", quick=("--size", "3"), full=("--size", "300"),
                 out=out)  # fmt: skip
    run = runner.run_one(spec, "quick", tmp_path, calibration_repeats=1)
    assert run.status == "ok", run.error
    assert run.output[0]["value"] == 30.0
    assert not fake_bench.RESULTS.exists()


def test_run_all_runs_each_in_turn_and_reports_progress(tmp_path: Path) -> None:
    said: list[str] = []
    runs = runner.run_all(
        [bench(call="tests.bench.fake_bench:crash"), bench(call="tests.bench.fake_bench:ok")],
        "quick",
        tmp_path / "work",
        progress=said.append,
        calibration_repeats=1,
    )
    assert [len(r.calibration_samples) for r in runs] == [1, 1]
    assert [r.status for r in runs] == ["failed", "ok"]
    assert len(said) == 4
    assert said[1].startswith("fake: failed")
