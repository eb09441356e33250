"""``--only`` keeps older figures only beside new ones of the same machine speed (issue 11),
and the table says of every figure when, at which commit and at which calibration it ran."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import bench.__main__ as bench_main
from bench.report import assemble, registry, table
from bench.report.registry import Benchmark, Figure
from bench.report.runner import BenchRun

ROOT = Path(__file__).resolve().parents[2]
OLD_REPORT = ROOT / "bench" / "results" / "full-partial" / "latest.json"
MACHINE = {"cpu_model": "AMD EPYC", "cores": 2, "ram_gib": 23.5}


def _bench(name: str) -> Benchmark:
    figure = Figure(f"{name} rate", "records/s", "throughput", r"^fake rate$")
    return Benchmark(name=name, issue=11, summary=name, figures=(figure,),
                     call="tests.bench.fake_bench:ok")  # fmt: skip


def _report(
    name: str,
    calibration: float | None,
    *,
    mode: str = "full",
    date: str = "2026-11-23T05:28:00+00:00",
    commit: str = "a" * 40,
) -> dict[str, Any]:
    """A real report of one benchmark, built from its output as ``python -m bench`` builds it."""
    output = {"figures": [{"figure": "fake rate", "unit": "records/s", "value": 1234.0,
                           "data_size": "1,000 records"}]}  # fmt: skip
    run = BenchRun(name=name, status="ok", seconds=12.0, output=output, date=date,
                   load_average_at_start=[1.0, 1.0, 1.0], load_average_at_end=[1.5, 1.0, 1.0],
                   calibration_cpu_s=calibration,
                   calibration_samples=[] if calibration is None else [calibration],
                   git_commit=commit, git_dirty=False)  # fmt: skip
    return assemble.build([_bench(name)], [run], mode, machine_info=MACHINE,
                          commit={"commit": commit, "dirty": False})  # fmt: skip


def test_figures_of_a_similar_calibration_are_merged_each_with_its_own_conditions() -> None:
    previous = _report("old", 0.40, date="2026-11-22T21:00:00+00:00", commit="b" * 40)
    fresh = _report("new", 0.44, date="2026-11-23T05:28:00+00:00")  # 10 % apart
    merged = assemble.merge(previous, fresh, ["old", "new"])
    got = {f["benchmark"]: (f["calibration_cpu_s"], f["git_commit"][:1], f["date"][:10])
           for f in merged["figures"]}  # fmt: skip
    assert got == {"old": (0.40, "b", "2026-11-22"), "new": (0.44, "a", "2026-11-23")}
    text = table.markdown(merged)
    assert "| old rate | records/s | 1,234 | — | — | — | 1,000 records | a |" in text
    assert "| new rate | records/s | 1,234 | — | — | — | 1,000 records | b |" in text
    assert "| a | old | 2026-11-22 21:00 | bbbbbbbbbb | 0.40 s |" in text
    assert "| b | new | 2026-11-23 05:28 | aaaaaaaaaa | 0.44 s |" in text
    assert "commit several, per run above" in text
    assert "differ by more than" not in text


@pytest.mark.parametrize(
    ("old", "refused"),
    [
        pytest.param(0.31, True, id="a-faster-machine"),
        pytest.param(0.50, False, id="25-percent-is-the-limit"),
        pytest.param(0.501, True, id="just-over"),
        pytest.param(0.32, False, id="the-limit-on-the-faster-side"),
    ],
)
def test_the_guard_draws_the_line_at_25_percent(old: float, refused: bool) -> None:
    fresh = _report("new", 0.40)
    if not refused:
        assert len(assemble.merge(_report("old", old), fresh, ["old", "new"])["figures"]) == 2
        return
    with pytest.raises(assemble.MixedMachines) as caught:
        assemble.merge(_report("old", old), fresh, ["old", "new"])
    reason = str(caught.value)
    assert "\n" not in reason
    assert f"old {old:.2f} s" in reason
    assert "this run's 0.40 s" in reason
    assert "25%" in reason
    assert "--allow-mixed-machines" in reason


def test_the_last_sessions_machines_need_the_flag_and_then_the_table_warns() -> None:
    previous = _report("old", 0.35, commit="b" * 40)
    fresh = _report("new", 0.60)
    with pytest.raises(assemble.MixedMachines):
        assemble.merge(previous, fresh, ["old", "new"])
    merged = assemble.merge(previous, fresh, ["old", "new"], allow_mixed=True)
    assert [f["calibration_cpu_s"] for f in merged["figures"]] == [0.35, 0.60]
    text = table.markdown(merged)
    assert "| 0.35 s |" in text
    assert "| 0.60 s |" in text
    assert "**The calibrations differ by more than 25% (0.35–0.60 s)" in text


def test_a_report_from_before_calibrations_is_refused_as_unknown_then_rendered_as_such() -> None:
    previous = json.loads(OLD_REPORT.read_text(encoding="utf-8"))
    assert all("calibration_cpu_s" not in f for f in previous["figures"])  # really an old one
    fresh = _report("hukou", 0.40)
    with pytest.raises(assemble.MixedMachines) as caught:
        assemble.merge(previous, fresh, registry.names())
    reason = str(caught.value)
    assert "have no calibration" in reason
    assert "api, civil_affairs, engine, health, hotline, load, utility" in reason
    assert "hukou" not in reason.split("this run")[0]  # replaced, not kept
    merged = assemble.merge(previous, fresh, registry.names(), allow_mixed=True)
    text = table.markdown(merged)
    assert "| api | 2026-11-23 05:37 | 7b44abbfef + uncommitted changes | unknown |" in text
    assert "| hukou | 2026-11-23 05:28 | aaaaaaaaaa | 0.40 s |" in text
    assert "Unknown for 7 run(s) recorded before runs were calibrated." in text


def test_a_report_from_before_calibrations_still_renders_every_figure_with_its_run() -> None:
    previous = json.loads(OLD_REPORT.read_text(encoding="utf-8"))
    lines = table.markdown(previous).splitlines()
    rows = [line for line in lines if line.startswith("| ") and line.count("|") == 9]
    assert len(rows) == len(previous["figures"]) + 2  # and the header and its rule
    rows = rows[1:]
    keys = {row.rsplit("|", 2)[1].strip() for row in rows[1:]}
    assert keys == set("abcdefgh")  # one per benchmark run
    assert "| b | hukou | 2026-11-23 05:29 | 7b44abbfef + uncommitted changes | unknown |" in lines
    assert "| hukou | ok | 166 | 193 | 641 | 0.85 → 1.42 | unknown |" in table.timings(previous)


def test_a_kept_benchmark_that_measured_nothing_does_not_block() -> None:
    previous = _report("old", None)
    previous["figures"][0]["gridhub"] = None  # it failed: no figure to mix up
    merged = assemble.merge(previous, _report("new", 0.60), ["old", "new"])
    assert [f["benchmark"] for f in merged["figures"]] == ["old", "new"]


def test_a_previous_report_of_another_mode_is_replaced_not_guarded() -> None:
    merged = assemble.merge(_report("old", 0.35, mode="quick"), _report("new", 0.60), ["old"])
    assert [f["benchmark"] for f in merged["figures"]] == ["new"]


def test_rebuild_keeps_each_runs_commit_and_calibration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = assemble.merge(_report("old", 0.35, commit="b" * 40), _report("new", 0.60),
                              ["old", "new"], allow_mixed=True)  # fmt: skip
    for name in ("old", "new"):
        (tmp_path / "full").mkdir(exist_ok=True)
        output = {"figures": [{"figure": "fake rate", "unit": "records/s", "value": 99.0}]}
        (tmp_path / "full" / f"{name}.json").write_text(json.dumps(output), encoding="utf-8")
    monkeypatch.setattr(registry, "BENCHMARKS", (_bench("old"), _bench("new")))
    rebuilt = bench_main.rebuild(previous, tmp_path)
    got = [(f["benchmark"], f["gridhub"], f["calibration_cpu_s"], f["git_commit"][:1])
           for f in rebuilt["figures"]]  # fmt: skip
    assert got == [("old", 99.0, 0.35, "b"), ("new", 99.0, 0.60, "a")]


@pytest.fixture
def two_fake_benchmarks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "BENCHMARKS", (_bench("old"), _bench("fake")))


@pytest.mark.usefixtures("two_fake_benchmarks")
def test_only_refuses_before_running_and_says_why_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results, work = tmp_path / "results", tmp_path / "work"
    results.mkdir()
    previous = _report("old", 50.0, mode="quick")  # no machine of this type is that slow
    latest = results / "latest.json"
    latest.write_text(json.dumps(previous), encoding="utf-8")
    before = latest.read_text(encoding="utf-8")
    args = ["--quick", "--only", "fake", "--results-dir", str(results), "--work-dir", str(work)]
    assert bench_main.main(args) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("python -m bench: not merged: the kept figures of old 50.00 s")
    assert latest.read_text(encoding="utf-8") == before
    assert not (work / "quick" / "fake.json").exists()  # nothing was run


@pytest.mark.usefixtures("two_fake_benchmarks")
def test_only_with_the_flag_merges_and_the_report_states_both_runs(tmp_path: Path) -> None:
    results, work = tmp_path / "results", tmp_path / "work"
    results.mkdir()
    previous = _report("old", 50.0, mode="quick", commit="b" * 40)
    (results / "latest.json").write_text(json.dumps(previous), encoding="utf-8")
    args = ["--quick", "--only", "fake", "--results-dir", str(results), "--work-dir", str(work),
            "--allow-mixed-machines"]  # fmt: skip
    assert bench_main.main(args) == 0
    report = json.loads((results / "latest.json").read_text(encoding="utf-8"))
    old, fake = report["figures"]
    assert (old["benchmark"], old["calibration_cpu_s"], old["git_commit"]) == (
        "old",
        50.0,
        "b" * 40,
    )
    assert fake["benchmark"] == "fake"
    assert 0 < fake["calibration_cpu_s"] < 30  # measured by the runner on this machine
    assert len(fake["git_commit"]) == 40
    (run,) = [b for b in report["benchmarks"] if b["name"] == "fake"]
    assert run["calibration_cpu_s"] == min(run["calibration_samples"])
    md = (results / "latest.md").read_text(encoding="utf-8")
    assert "| a | old | 2026-11-23 05:28 | bbbbbbbbbb | 50.00 s |" in md
    assert f"| b | fake | {fake['date'][:16].replace('T', ' ')} |" in md
    assert "**The calibrations differ by more than 25%" in md
