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
    assert lines[0] == "| figure | unit | gridhub | peer | target | met | size |"
    assert lines[2] == (
        "| hukou SOAP sync into SQLite | records/s | 1,021 | — | >= 5,000 | **no** "
        "| 100,000 persons |"
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
    assert "| hukou | timeout | 80.0 | 70.0 | 300 | 5.5 → 6.1 |" in table.timings(data)
