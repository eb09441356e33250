"""The PNG charts: written, sized to their figures, latency in one unit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.image

from bench.report import charts

PNG = b"\x89PNG\r\n\x1a\n"


def fig(name: str, kind: str, unit: str, value: float | None, **kw: Any) -> dict[str, Any]:
    return {"name": name, "kind": kind, "unit": unit, "gridhub": value, "peer": None,
            "target": None, "met": None} | kw  # fmt: skip


def report(figures: list[dict[str, Any]]) -> dict[str, Any]:
    return {"mode": "quick", "date": "2026-11-22T21:00:00+00:00",
            "machine": {"cores": 2}, "load_average_at_start": [3.0, 2.0, 1.0],
            "figures": figures}  # fmt: skip


def test_latency_is_plotted_in_milliseconds_with_its_own_unit_in_the_label() -> None:
    data = charts.series(
        report([
            fig("verify", "latency", "s", 21.0, target="< 60", target_bound=60, met=True),
            fig("p99", "latency", "ms", 72.0, target="< 20", target_bound=20, met=False),
            fig("F1", "quality", "ratio", 0.99),
            fig("wall", "latency", "s", 2.85, target=">= Splink 5",
                peer={"name": "Splink 5", "value": 6.69}),
        ]),
        "latency",
    )  # fmt: skip
    assert [d["value"] for d in data] == [21000.0, 72.0, 2850.0]
    assert [d["target"] for d in data] == [60000.0, 20.0, None]
    assert data[0]["text"] == "21.0 s"
    assert data[2]["peer"] == 6690.0


def test_figures_without_a_value_are_left_out() -> None:
    data = charts.series(report([fig("lost", "throughput", "rows/s", None)]), "throughput")
    assert data == []


def test_both_charts_are_written_as_png(tmp_path: Path) -> None:
    figures = [fig(f"rate {i}", "throughput", "records/s", 10.0**i, target=">= 5,000",
                   target_bound=5000, met=10.0**i >= 5000) for i in range(1, 7)]  # fmt: skip
    figures.append(fig("p99", "latency", "ms", 47.0, target="< 500", target_bound=500, met=True))
    throughput, latency = charts.write(report(figures), tmp_path)
    assert throughput.read_bytes()[:8] == PNG
    assert latency.read_bytes()[:8] == PNG
    tall = matplotlib.image.imread(throughput).shape[0]
    short = matplotlib.image.imread(latency).shape[0]
    assert tall > short  # six rows need more height than one


def test_an_empty_chart_still_says_so(tmp_path: Path) -> None:
    (path,) = [charts.chart(report([]), "latency", tmp_path / "l.png", "t", "ms")]
    assert path.read_bytes()[:8] == PNG
