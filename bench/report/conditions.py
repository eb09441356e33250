"""What a figure was measured under, as the runner sees it just before each benchmark: the
machine, the commit, and how fast this machine runs Python right now (the calibration).

Machines of the same type were found to differ ~1.7x in Python speed, and a shared machine's
speed drifts with its load, so a figure is only comparable with another of a similar
calibration. The calibration is the loop ``bench.adapters.harness.calibration`` times inside
the sync benchmarks (10 million additions), measured here by the runner itself so that every
benchmark has one, whatever it records. One timing of it under load varied 0.39-0.65 s of
CPU on this machine (SMT siblings and caches are shared); the best of five varied 0.39-0.43 s,
so the best of five is recorded, with the five samples beside it.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CALIBRATION_REPEATS = 5
#: Calibrations further apart than this (larger over smaller, minus one) are another speed.
#: Not 15 %: one idle run of eight benchmarks on one machine gave 0.339-0.393 s (16 % apart,
#: best of 5 each); the machines it must tell apart differed by 70 %.
MIXED_LIMIT = 0.25


def _loop_10m_cpu_s() -> float:
    """CPU seconds of harness.calibration's loop: 10 million additions in a Python loop."""
    started = time.process_time()
    x = 0
    for i in range(10_000_000):
        x += i
    return time.process_time() - started


def calibration(repeats: int = CALIBRATION_REPEATS) -> tuple[float, list[float]]:
    """The best of ``repeats`` timings of the loop (contention only ever adds), and all of them."""
    samples = [round(_loop_10m_cpu_s(), 3) for _ in range(repeats)]
    return min(samples), samples


def apart(a: float, b: float) -> float:
    """How far apart two calibrations are: the larger over the smaller, minus one (to six
    places, so that 0.50 against 0.40 is 25 %, not a hair over)."""
    return round(max(a, b) / min(a, b) - 1, 6)


def machine(proc: Path = Path("/proc")) -> dict[str, Any]:
    """CPU model, cores and RAM as the kernel reports them."""
    cpu, cores = "unknown", 0
    try:
        for line in (proc / "cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu == "unknown":
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("processor"):
                cores += 1
    except OSError:
        pass
    ram_gib = None
    try:
        for line in (proc / "meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 2**20, 1)  # kB
                break
    except OSError:
        pass
    return {"cpu_model": cpu, "cores": cores or os.cpu_count(), "ram_gib": ram_gib}


def git_commit(root: Path = ROOT) -> dict[str, Any]:
    """HEAD, and whether the work tree differs from it (the figures then are of HEAD + diff)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}
