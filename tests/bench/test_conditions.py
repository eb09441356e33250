"""What the runner records before each benchmark: calibration, commit, machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report import conditions


def test_the_calibration_is_the_best_of_its_samples() -> None:
    best, samples = conditions.calibration(repeats=3)
    assert len(samples) == 3
    assert best == min(samples)
    assert 0 < best < 30  # 10M additions: well under a second on any machine of this type


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param(0.35, 0.60, 0.714286, id="last-session-machines"),
        pytest.param(0.60, 0.35, 0.714286, id="symmetric"),
        pytest.param(0.40, 0.50, 0.25, id="exactly-the-limit"),
        pytest.param(0.40, 0.40, 0.0, id="same"),
    ],
)
def test_apart(a: float, b: float, expected: float) -> None:
    assert conditions.apart(a, b) == expected


def test_machine_is_read_from_proc(tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text(
        "processor\t: 0\nmodel name\t: Test CPU 9000\n\n"
        "processor\t: 1\nmodel name\t: Test CPU 9000\n"
    )
    (tmp_path / "meminfo").write_text("MemTotal:       24576000 kB\nMemFree: 1 kB\n")
    assert conditions.machine(tmp_path) == {"cpu_model": "Test CPU 9000", "cores": 2,
                                            "ram_gib": 23.4}  # fmt: skip


def test_git_commit_of_this_work_tree() -> None:
    info = conditions.git_commit()
    assert info["commit"] is not None
    assert len(info["commit"]) == 40
    assert isinstance(info["dirty"], bool)
