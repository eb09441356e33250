"""The Markdown table: one row per figure, verdicts honest about the sizes they come from."""

from __future__ import annotations

from typing import Any

import pytest

from bench.report import table


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(None, "—", id="none"),
        pytest.param(123456.7, "123,457", id="thousands"),
        pytest.param(256.1, "256", id="hundreds"),
        pytest.param(19.84, "19.8", id="tens"),
        pytest.param(2.852, "2.85", id="units"),
        pytest.param(0.097, "0.097", id="fraction"),
        pytest.param(0, "0.00", id="zero"),
    ],
)
def test_numbers(value: float | None, text: str) -> None:
    assert table.number(value) == text


def test_ratios_keep_four_places() -> None:
    assert table.number(0.999771, "ratio") == "0.9998"
    assert table.number(1.0, "ratio") == "1.0000"


def report(mode: str = "full", **figure: Any) -> dict[str, Any]:
    entry = {"name": "hukou SOAP sync into SQLite", "unit": "records/s", "gridhub": 1021.4,
             "peer": None, "target": ">= 5,000", "met": False, "data_size": "100,000 persons",
             "at_target_size": mode == "full"} | figure  # fmt: skip
    return {"mode": mode, "date": "2026-11-22T21:00:00+00:00",
            "machine": {"cpu_model": "AMD EPYC", "cores": 2, "ram_gib": 23.5},
            "git": {"commit": "3b9601fb33aa", "dirty": True},
            "load_average_at_start": [5.5, 5.0, 4.0], "load_average_at_end": [6.1, 5.0, 4.0],
            "figures": [entry],
            "benchmarks": [{"name": "hukou", "status": "ok", "seconds": 80.0,
                            "cpu_seconds": 70.0, "peak_rss_mb": 300.0,
                            "load_average_at_start": [5.5],
                            "load_average_at_end": [6.1]}]}  # fmt: skip


def test_a_full_row() -> None:
    lines = table.markdown(report()).splitlines()
    assert lines[0] == "| figure | unit | gridhub | peer | target | met | size | run |"
    assert lines[2] == (
        "| hukou SOAP sync into SQLite | records/s | 1,021 | — | >= 5,000 | **no** "
        "| 100,000 persons | a |"
    )


def test_quick_verdicts_are_in_parentheses_and_explained() -> None:
    text = table.markdown(report("quick", met=True))
    assert "| (yes) |" in text
    assert "indicative only" in text


def test_peer_and_missing_value() -> None:
    text = table.markdown(report(peer={"name": "Splink 5", "value": 6.689}, gridhub=None,
                                 missing="benchmark failed", met=None))  # fmt: skip
    assert "| not measured | Splink 5: 6.69 |" in text


def test_conditions_name_machine_load_commit_and_mode() -> None:
    text = table.markdown(report())
    assert "2 cores (AMD EPYC), 23.5 GiB RAM" in text
    assert "between 5.5 and 6.1 at the starts and ends of the benchmarks" in text
    assert "3b9601fb33 + uncommitted changes" in text
    assert "mode **full**" in text


def test_a_pipe_in_a_name_does_not_break_the_table() -> None:
    row = table.markdown(report(name="a | b")).splitlines()[2]
    assert row.startswith("| a \\| b |")


def test_failed_benchmarks_are_listed_and_timed() -> None:
    data = report()
    data["benchmarks"][0]["status"] = "timeout"
    assert "Not measured: hukou (timeout)." in table.markdown(data)
    assert "| hukou | timeout | 80.0 | 70.0 | 300 | 5.5 → 6.1 | unknown |" in table.timings(data)


def _stamped(benchmark: str, date: str, commit: str, calibration: float | None) -> dict[str, Any]:
    return {"name": f"{benchmark} rate", "unit": "records/s", "gridhub": 10.0, "peer": None,
            "target": None, "met": None, "data_size": "1", "at_target_size": True,
            "benchmark": benchmark, "date": date, "git_commit": commit, "git_dirty": False,
            "calibration_cpu_s": calibration}  # fmt: skip


def test_each_run_has_a_key_and_a_row_with_date_commit_and_calibration() -> None:
    data = report()
    data["figures"] = [
        _stamped("hukou", "2026-11-23T05:29:10+00:00", "1" * 40, 0.41),
        _stamped("hukou", "2026-11-23T05:29:10+00:00", "1" * 40, 0.41),
        _stamped("api", "2026-11-22T23:36:00+00:00", "2" * 40, None),
    ]
    lines = table.markdown(data).splitlines()
    assert [line.rsplit("|", 2)[1].strip() for line in lines[2:5]] == ["a", "a", "b"]
    assert lines[6] == "| run | benchmark | started (UTC) | commit | calibration |"
    assert lines[8] == "| a | hukou | 2026-11-23 05:29 | 1111111111 | 0.41 s |"
    assert lines[9] == "| b | api | 2026-11-22 23:36 | 2222222222 | unknown |"
    text = "\n".join(lines)
    assert "commit several, per run above" in text
    assert "Unknown for 1 run(s) recorded before runs were calibrated." in text


def test_runs_more_than_25_percent_apart_are_flagged_under_the_table() -> None:
    data = report()
    data["figures"] = [_stamped("a", "2026-11-23T05:00:00+00:00", "1" * 40, 0.40),
                       _stamped("b", "2026-11-23T06:00:00+00:00", "1" * 40, 0.50)]  # fmt: skip
    assert "differ by more than" not in table.markdown(data)
    data["figures"][1]["calibration_cpu_s"] = 0.51
    assert "**The calibrations differ by more than 25% (0.40–0.51 s)" in table.markdown(data)
    assert "commit 1111111111;" in table.markdown(data)  # one commit: said once
