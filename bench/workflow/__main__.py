"""``python -m bench.workflow``: event → task latency, throughput, and measures at 1M tasks.

Runs on the embedded default (a SQLite file in a temporary folder), writes
``bench/results/workflow.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.workflow.district import bulk_tasks, seed_district
from canonical_model import Task
from canonical_model.roster import TaskDailyStats
from canonical_model.store import make_engine, session_factory, transaction, upgrade
from workflow import (
    accept,
    close,
    complete,
    default_rules,
    measures,
    publish_event,
    ranking,
    refresh_daily_stats,
    start,
)

RESULTS = Path(__file__).resolve().parent.parent / "results" / "workflow.json"


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.platform(),
        "load_average": list(os.getloadavg()),
    }


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def intake(folder: Path, events: int) -> dict[str, Any]:
    """Each event in its own transaction, committed: rules, place, dispatch, task, history."""
    engine = make_engine(f"sqlite:///{folder / 'intake.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    buildings = seed_district(sessions)
    rules = default_rules()
    now = dt.datetime.now(dt.UTC)
    latencies: list[float] = []
    uids: list[tuple[str, str]] = []
    began = time.perf_counter()
    for k in range(events):
        t0 = time.perf_counter()
        with transaction(sessions) as s:
            published = publish_event(
                s,
                type="device.smoke",
                severity="emergency",
                occurred_at=now,
                source="device_gateway",
                source_ref=f"alarm-{k}",
                grid_code=buildings[k % len(buildings)],
                rules=rules,
                now=now,
            )
            task = published.tasks[0]
            uids.append((task.uid, task.assignee or ""))
        latencies.append((time.perf_counter() - t0) * 1000)
    intake_seconds = time.perf_counter() - began
    loop = uids[: max(1, events // 4)]
    began = time.perf_counter()
    for uid, worker in loop:  # the rest of the loop: four more transactions per task
        with transaction(sessions) as s:
            accept(s, uid, actor=worker, now=now)
        with transaction(sessions) as s:
            start(s, uid, actor=worker, now=now)
        with transaction(sessions) as s:
            complete(s, uid, actor=worker, result="resolved", now=now)
        with transaction(sessions) as s:
            close(s, uid, actor="resident", rating=5, now=now)
    loop_seconds = time.perf_counter() - began
    engine.dispose()
    return {
        "events": events,
        "p50_ms": round(_pct(latencies, 50), 2),
        "p99_ms": round(_pct(latencies, 99), 2),
        "intake_tasks_per_s": round(events / intake_seconds, 1),
        "full_loop_tasks": len(loop),
        "full_loop_tasks_per_s": round(len(loop) / loop_seconds, 1),
    }


def measures_at_scale(folder: Path, total: int) -> dict[str, Any]:
    engine = make_engine(f"sqlite:///{folder / 'measures.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    seed_district(sessions)
    end = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    t0 = time.perf_counter()
    bulk_tasks(sessions, total, end=end)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with transaction(sessions) as s:
        refreshed = refresh_daily_stats(s, now=end + dt.timedelta(days=1))
    refresh_s = time.perf_counter() - t0
    timings: dict[str, float] = {}
    start = end - dt.timedelta(days=366)
    with sessions() as s:
        tasks = s.scalar(select(func.count()).select_from(Task))
        rows = s.scalar(select(func.count()).select_from(TaskDailyStats))
        for label, kwargs in (
            ("district_year", {"group_by": "all"}),
            ("per_community_year", {"group_by": "community"}),
            ("per_grid_year", {"group_by": "grid"}),
            ("per_worker_year", {"group_by": "worker"}),
            (
                "per_category_quarter",
                {"group_by": "category", "start": end - dt.timedelta(days=91, hours=5)},
            ),
        ):
            args = {"start": start, "end": end, **kwargs}
            runs = []
            for _ in range(3):
                t = time.perf_counter()
                measures(s, **args)
                runs.append(time.perf_counter() - t)
            timings[label] = round(statistics.median(runs), 3)
        t = time.perf_counter()
        ranking(s, by="worker", start=start, end=end, order="good_rating_rate")
        timings["worker_ranking_year"] = round(time.perf_counter() - t, 3)
    engine.dispose()
    return {
        "tasks": tasks,
        "stats_rows": rows,
        "bulk_load_s": round(load_s, 1),
        "daily_stats_full_refresh_s": round(refresh_s, 1),
        "refreshed_days": refreshed["days"],
        "timings_s": timings,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workflow", description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gridhub-bench-workflow-") as tmp:
        folder = Path(tmp)
        lat = intake(folder, args.events)
        print("intake: done", file=sys.stderr)
        big = measures_at_scale(folder, args.tasks)
        print("measures: done", file=sys.stderr)
    worst = max(big["timings_s"].values())
    per_day = 100_000 / 86_400
    size_events = f"{args.events:,} events, 100 grids, SQLite file"
    size_tasks = f"{big['tasks']:,} tasks, {big['stats_rows']:,} daily-stats rows"
    figures = [
        {
            "figure": "event → task assigned, p99",
            "unit": "ms",
            "value": lat["p99_ms"],
            "target": "< 200",
            "met": lat["p99_ms"] < 200,
            "data_size": size_events,
        },
        {
            "figure": "event → task assigned, p50",
            "unit": "ms",
            "value": lat["p50_ms"],
            "target": "-",
            "met": None,
            "data_size": size_events,
        },
        {
            "figure": "intake throughput",
            "unit": "tasks/s",
            "value": lat["intake_tasks_per_s"],
            "target": f"> {per_day:.2f} (100,000/day)",
            "met": lat["intake_tasks_per_s"] > per_day,
            "data_size": size_events,
        },
        {
            "figure": "full loop throughput (accept, start, complete+outbox, close)",
            "unit": "tasks/s",
            "value": lat["full_loop_tasks_per_s"],
            "target": f"> {per_day:.2f} (100,000/day)",
            "met": lat["full_loop_tasks_per_s"] > per_day,
            "data_size": f"{lat['full_loop_tasks']:,} tasks",
        },
        *(
            {
                "figure": f"measures: {label}",
                "unit": "s",
                "value": value,
                "target": "< 1",
                "met": value < 1,
                "data_size": size_tasks,
            }
            for label, value in big["timings_s"].items()
        ),
        {
            "figure": "daily_stats full rebuild (first run)",
            "unit": "s",
            "value": big["daily_stats_full_refresh_s"],
            "target": "-",
            "met": None,
            "data_size": f"{big['refreshed_days']} days",
        },
    ]
    result = {
        "benchmark": "workflow (events, dispatch, lifecycle, measures)",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "figures": figures,
        "detail": {"intake": lat, "measures": big, "slowest_measure_s": worst},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print("| figure | value | unit | target | met | data size |")
    print("| --- | ---: | --- | --- | --- | --- |")
    for f in figures:
        met = "" if f["met"] is None else ("yes" if f["met"] else "NO")
        print(
            f"| {f['figure']} | {f['value']} | {f['unit']} | {f['target']} | {met} | "
            f"{f['data_size']} |"
        )
    print(f"\nwritten: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
