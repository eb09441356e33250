"""Run each benchmark in a process of its own, and watch it from outside.

One process per benchmark, in its own session: a crash or a hang costs the report one row
(the process group is ended on a time limit), and the memory sampled is the benchmark's
alone. Peak memory is the sum of RSS over the benchmark's process tree, simulators and
servers it starts included (PostgreSQL, started once for the machine, is not); CPU time is
what ``wait4`` reports for the tree's reaped processes. Before each benchmark the runner
takes the machine's calibration and the commit itself (``conditions``), so every figure says
how fast the machine was and which code ran, whatever the benchmark records.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench.report import conditions
from bench.report.child import command
from bench.report.registry import Benchmark

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_EVERY_S = 0.25


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@dataclass
class BenchRun:
    """What one benchmark run gave: its output, or why there is none, and what it cost."""

    name: str
    status: str  # ok | failed | timeout
    seconds: float
    cpu_seconds: float | None = None
    peak_rss_mb: float | None = None
    returncode: int | None = None
    load_average_at_start: list[float] = field(default_factory=list)
    load_average_at_end: list[float] = field(default_factory=list)
    date: str | None = None  # when it started, UTC
    calibration_cpu_s: float | None = None  # best of the samples; None: run before this existed
    calibration_samples: list[float] = field(default_factory=list)
    git_commit: str | None = None  # HEAD when it started (None: report-wide, older reports)
    git_dirty: bool | None = None
    output: Any = None
    error: str | None = None
    log: str | None = None

    def summary(self) -> dict[str, Any]:
        """Everything but the raw output, for the report's list of benchmarks."""
        return {k: v for k, v in self.__dict__.items() if k != "output"}


def tree_rss_mb(process: psutil.Process) -> float:
    total = 0
    with suppress(psutil.Error):
        for p in [process, *process.children(recursive=True)]:
            with suppress(psutil.Error):
                total += p.memory_info().rss
    return total / 2**20


def _end_group(pid: int) -> None:
    """End the benchmark's own process group (it was started in a new session)."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 0.0)):
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] != 0:
                    return
            time.sleep(0.2)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_one(
    bench: Benchmark,
    mode: str,
    workdir: Path,
    timeout_s: float | None = None,
    *,
    calibration_repeats: int = conditions.CALIBRATION_REPEATS,
) -> BenchRun:
    """Run ``bench`` through ``bench.report.child`` and collect its output file. The
    calibration costs ~2.4 s of CPU at the default five repeats (1 s is plenty for a test)."""
    timeout = timeout_s or (bench.quick_timeout_s if mode == "quick" else bench.full_timeout_s)
    out = workdir / f"{bench.name}.json"
    log = workdir / f"{bench.name}.log"
    out.unlink(missing_ok=True)
    calibration, samples = conditions.calibration(
        calibration_repeats
    )  # before the benchmark, never beside it
    git = conditions.git_commit()
    started_load, started = load_average(), time.perf_counter()
    date = datetime.now(UTC).isoformat(timespec="seconds")
    with log.open("w", encoding="utf-8") as sink:
        proc = subprocess.Popen(
            command(bench, mode, out),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    watched = psutil.Process(proc.pid)
    peak, status, usage = 0.0, None, None
    while True:
        pid, wait_status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid != 0:
            status, usage = wait_status, rusage
            proc.returncode = os.waitstatus_to_exitcode(wait_status)
            break
        peak = max(peak, tree_rss_mb(watched))
        if time.perf_counter() - started > timeout:
            _end_group(proc.pid)
            proc.returncode = -9
            break
        time.sleep(SAMPLE_EVERY_S)
    seconds = round(time.perf_counter() - started, 1)
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # leftovers of a finished benchmark's group
    run = BenchRun(
        name=bench.name,
        status="ok",
        seconds=seconds,
        peak_rss_mb=round(peak, 1),
        returncode=proc.returncode,
        load_average_at_start=started_load,
        load_average_at_end=load_average(),
        date=date,
        calibration_cpu_s=calibration,
        calibration_samples=samples,
        git_commit=git["commit"],
        git_dirty=git["dirty"],
        log=str(log),
    )
    if usage is not None:
        run.cpu_seconds = round(usage.ru_utime + usage.ru_stime, 1)
    if status is None:
        run.status, run.error = "timeout", f"no result after {timeout:.0f} s; process group ended"
    elif proc.returncode != 0:
        run.status = "failed"
        run.error = f"exit code {proc.returncode}: {_tail(log, 6)}"
    else:
        try:
            run.output = json.loads(out.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            run.status, run.error = "failed", f"no readable output ({exc})"
    return run


def run_all(
    benches: list[Benchmark],
    mode: str,
    workdir: Path,
    progress: Any = None,
    *,
    calibration_repeats: int = conditions.CALIBRATION_REPEATS,
) -> list[BenchRun]:
    """Each benchmark in turn (never two at once: they would measure each other)."""
    workdir.mkdir(parents=True, exist_ok=True)
    runs = []
    for bench in benches:
        if progress:
            progress(f"{bench.name}: running ({mode})")
        run = run_one(bench, mode, workdir, calibration_repeats=calibration_repeats)
        if progress:
            how = run.status if run.error is None else f"{run.status}: {run.error.splitlines()[0]}"
            progress(
                f"{bench.name}: {how} in {run.seconds:.0f} s, peak RSS {run.peak_rss_mb} MiB, "
                f"load {run.load_average_at_start[0]} → {run.load_average_at_end[0]}, "
                f"calibration {run.calibration_cpu_s} s"
            )
        runs.append(run)
    return runs
