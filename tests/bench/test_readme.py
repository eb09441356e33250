"""The README block: rewritten between its markers, and nothing else touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.report import readme

REPORT: dict[str, Any] = {
    "mode": "full",
    "date": "2026-11-22T21:00:00+00:00",
    "machine": {"cpu_model": "AMD EPYC", "cores": 2, "ram_gib": 23.5},
    "git": {"commit": "abc", "dirty": False},
    "load_average_at_start": [1.0],
    "load_average_at_end": [1.2],
    "figures": [{"name": "tasks", "unit": "tasks/s", "gridhub": 42.8, "peer": None,
                 "target": "> 1.16", "met": True, "data_size": "2,000 events",
                 "at_target_size": True}],
    "benchmarks": [],
}  # fmt: skip
BEFORE = "# gridhub\n\n## Benchmarks\n\nRun it.\n\n<!-- bench:begin -->\nold table\n"
AFTER = "<!-- bench:end -->\n\n## Tests\n\nmake test\n"


def test_only_the_block_changes(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text(BEFORE + AFTER, encoding="utf-8")
    assert readme.update(path, REPORT) is True
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# gridhub\n\n## Benchmarks\n\nRun it.\n\n<!-- bench:begin -->\n")
    assert text.endswith("<!-- bench:end -->\n\n## Tests\n\nmake test\n")
    assert "old table" not in text
    assert "| tasks | tasks/s | 42.8 | — | > 1.16 | yes | 2,000 events |" in text


def test_a_second_update_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text(BEFORE + AFTER, encoding="utf-8")
    readme.update(path, REPORT)
    assert readme.update(path, REPORT) is False


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("# no markers\n", id="none"),
        pytest.param(AFTER + BEFORE, id="reversed"),
        pytest.param(BEFORE + AFTER + BEFORE + AFTER, id="twice"),
    ],
)
def test_bad_markers_are_refused(text: str) -> None:
    with pytest.raises(readme.MarkersMissing):
        readme.rewrite(text, REPORT)


def test_the_projects_readme_has_one_block() -> None:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert text.count(readme.BEGIN) == 1
    assert text.count(readme.END) == 1
    assert readme.rewrite(text, REPORT).count("| tasks |") == 1
