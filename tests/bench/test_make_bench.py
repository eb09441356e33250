"""``python -m bench --quick --only engine`` end to end, as ``make bench`` runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIGURE_KEYS = {
    "benchmark", "issue", "name", "kind", "unit", "gridhub", "peer", "target", "target_bound",
    "met", "data_size", "machine", "load_average_at_start", "load_average_at_end", "date",
    "git_commit", "git_dirty", "calibration_cpu_s", "at_target_size",
}  # fmt: skip


@pytest.mark.integration
def test_quick_report_of_one_benchmark(tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "engine",
         "--results-dir", str(results), "--work-dir", str(tmp_path / "work")],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((results / "latest.json").read_text(encoding="utf-8"))
    assert report["mode"] == "quick"
    assert report["machine"]["cores"] >= 1
    assert report["machine"]["ram_gib"] > 0
    assert len(report["git"]["commit"]) == 40
    assert [b["name"] for b in report["benchmarks"]] == ["engine"]
    assert report["benchmarks"][0]["status"] == "ok"
    assert report["benchmarks"][0]["seconds"] > 0
    figures = report["figures"]
    assert {f["name"] for f in figures} == {
        "engine: insert into SQLite", "engine: unchanged records", "engine: update into SQLite"
    }  # fmt: skip
    for f in figures:
        assert f.keys() >= FIGURE_KEYS
        assert f["gridhub"] > 0
        assert f["unit"] == "records/s"
        assert f["data_size"].replace(",", "").startswith("5000 records")
        assert len(f["load_average_at_start"]) == 3
        assert f["calibration_cpu_s"] > 0
    md = (results / "latest.md").read_text(encoding="utf-8")
    assert "| engine: insert into SQLite | records/s |" in md
    assert "| a | engine |" in md
    for chart in ("throughput.png", "latency.png"):
        assert (results / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| engine: update into SQLite |" in done.stdout
