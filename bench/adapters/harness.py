"""What every adapter benchmark shares: a measured child process whose memory is sampled from
outside, the machine it ran on, and the rows and table of its figures.

Each measured sync runs in a fresh interpreter so that its memory is the adapter's and the
engine's alone, not the parent's simulators and generators; the parent polls the child with
psutil because a process cannot see its own peak PSS (``ru_maxrss`` is RSS, which counts the
pages a forked mapping worker shares with its parent twice).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import psutil

ROOT = Path(__file__).resolve().parents[2]

#: How a child's memory is counted: PSS of it and its children (a mapping or parse worker),
#: PSS of the process alone, or RSS of the process alone.
Memory = Literal["pss_tree", "pss", "rss"]


def memory_mb(process: psutil.Process, how: Memory) -> float:
    """Memory of ``process`` now, in MiB, counted as ``how`` says; 0 once it has gone."""
    processes = [process]
    if how == "pss_tree":
        with suppress(psutil.Error):
            processes += process.children(recursive=True)
    total = 0
    for p in processes:
        with suppress(psutil.Error):
            if how == "rss":
                total += p.memory_info().rss
            else:
                info = p.memory_full_info()
                total += getattr(info, "pss", info.rss)
    return total / 2**20


def run_child(module: str, spec: dict[str, Any], memory: Memory) -> tuple[dict[str, Any], float]:
    """Run ``python -m module --child SPEC`` and sample its memory until it exits.

    Returns the JSON the child printed last and the peak memory in MiB.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--child", json.dumps(spec)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    watched = psutil.Process(proc.pid)
    peak = 0.0
    # PSS every 250 ms, RSS every 50 ms: reading a process's PSS (smaps_rollup) walks its
    # page tables under its mmap lock — ~3 ms a process, and the process stalls on its own
    # page faults meanwhile. At 50 ms that cost a 民政 sync (two processes) ~9 % of its rate
    # (four alternated runs: 14,292 records/s against 15,720 at 250 ms and 15,556 unsampled);
    # memory here grows over seconds, so the slower sampling still sees the peak.
    every = 0.25 if memory != "rss" else 0.05
    while proc.poll() is None:
        peak = max(peak, memory_mb(watched, memory))
        time.sleep(every)
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result, peak


def postgres_cpu() -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL process on this machine (backends and the
    server's own writers), for ``postgres_cpu_since``."""
    seen: dict[int, float] = {}
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] != "postgres":
            continue
        with suppress(psutil.Error):
            times = proc.cpu_times()
            seen[proc.pid] = times.user + times.system
    return seen


def postgres_cpu_since(before: dict[int, float]) -> float:
    """CPU the PostgreSQL processes spent since ``before``: the database's share of a sync,
    which the sync's own process times leave out (it works in its backends, and the WAL
    writer and checkpointer flush what they wrote) — the store's, and the source's too where
    that is PostgreSQL. Taken while the sync's connections are still open: a backend that
    has exited is no longer counted, so the figure is a floor. Everything else on the
    cluster counts too: run nothing beside it. (``bench.api.harness.db_cpu_seconds`` counts
    one database's backends only, which would leave out the writers' share.)"""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in postgres_cpu().items())


def child_main(spec: str, body: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
    """The child's side of ``run_child``: run ``body`` and print its result as the last line."""
    print(json.dumps(body(json.loads(spec))))
    return 0


def cpu_model() -> str:
    cpu = platform.processor() or ""
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return cpu


def calibration() -> float:
    """CPU seconds for 10 million additions in a Python loop: how fast this machine is now."""
    started = time.process_time()
    x = 0
    for i in range(10_000_000):
        x += i
    return round(time.process_time() - started, 2)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine(*, calibrate: bool = False, **extra: Any) -> dict[str, Any]:
    """The machine and its load now; the caller adds ``load_average_at_end`` when done."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "system": platform.platform(),
        "load_average_at_start": load_average(),
        **extra,
    }
    if calibrate:
        info["python_loop_10M_cpu_s"] = calibration()
    return info


def figure(
    name: str,
    unit: str,
    value: float,
    size: str,
    target: Any = None,
    *,
    lower_is_better: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """One result row; a numeric target gets a verdict, a text target ("flat") does not."""
    row: dict[str, Any] = {
        "figure": name,
        "unit": unit,
        "value": round(value, 1),
        "target": target,
        "data_size": size,
        **extra,
    }
    if isinstance(target, int | float):
        row["met"] = value <= target if lower_is_better else value >= target
    return row


def markdown_table(figures: list[dict[str, Any]]) -> list[str]:
    lines = ["| figure | data size | value | unit | target |", "| --- | --- | ---: | --- | --- |"]
    for f in figures:
        target = "" if f["target"] is None else str(f["target"])
        if "met" in f:
            target += " ✓" if f["met"] else " ✗"
        lines.append(
            f"| {f['figure']} | {f['data_size']} | {f['value']:,} | {f['unit']} | {target} |"
        )
    return lines


def migrated(url: str) -> str:
    """``url`` after migrating its database to the current schema."""
    from canonical_model.store import make_engine, upgrade

    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@contextmanager
def store(backend: str, prefix: str) -> Iterator[str]:
    """The URL of a fresh, migrated canonical store on ``backend``, removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix=prefix) as folder:
            yield migrated(f"sqlite:///{folder}/gridhub.db")
        return
    from tests.support import postgres

    postgres.ensure_running()
    with postgres.temporary_database() as name:
        yield migrated(postgres.url_for(name))


def write_json(path: Path, result: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def result(
    benchmark: str, machine: dict[str, Any], settings: dict[str, Any], **parts: Any
) -> dict[str, Any]:
    """A benchmark's results document: what, when, where, how, then its figures and runs."""
    return {
        "benchmark": benchmark,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "settings": settings,
        **parts,
    }


def cli(
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    *,
    results: Path,
    child: Callable[[dict[str, Any]], dict[str, Any]],
    run: Callable[[argparse.Namespace], dict[str, Any]],
    markdown: Callable[[dict[str, Any]], str],
) -> int:
    """The command line every adapter benchmark shares: ``--out``, and ``--child`` for the
    measured process; the benchmark's own options are already on ``parser``."""
    parser.add_argument("--out", type=Path, default=results)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args.child, child)
    document = run(args)
    write_json(args.out, document)
    print(markdown(document))
    return 0


def conditions(machine: dict[str, Any]) -> str:
    """The machine and its load, in words, for the line under a benchmark's table."""
    text = f"{machine['cores']} cores ({machine['cpu']}), load average "
    text += f"{machine['load_average_at_start'][0]} at start"
    if "load_average_at_end" in machine:
        text += f" and {machine['load_average_at_end'][0]} at end"
    if "python_loop_10M_cpu_s" in machine:
        text += f"; a 10M-iteration Python loop took {machine['python_loop_10M_cpu_s']} s of CPU"
    return text + "."
