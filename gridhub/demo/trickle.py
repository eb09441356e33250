"""The loop made visible while the hub serves: ``python -m gridhub.demo.trickle``.

A child process configured by its environment alone. Every few seconds it runs the same
job functions the DAGs run — hotline ingest, incremental identity resolution, produce
events, dispatch, the relay — and a demo grid worker takes one new 12345 task through
accept → start → complete with the lifecycle functions ``gridhub tasks …`` calls, so the
outcome goes through the outbox to the hotline's reply topic. One JSON line per round goes
to ``--events`` (counts and task uids only).
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

__all__ = ["complete_one_hotline_task", "main", "one_round"]

DEMO_NOTES = "演示：网格员已上门处置完毕"


def complete_one_hotline_task(database_url: str | None = None) -> str | None:
    """The oldest assigned, pending 12345 task, taken to ``completed`` by its assignee.

    Returns its uid, or None when no such task waits. Each transition is its own
    transaction, as when a worker taps through the app.
    """
    from canonical_model import Task, TaskState
    from canonical_model.store import transaction
    from gridhub.jobs.workflow import photo_store
    from gridhub.wiring import sessions
    from workflow import lifecycle

    factory = sessions(database_url)
    with factory() as s:
        row = s.execute(
            select(Task.uid, Task.assignee)
            .where(
                Task.requester_source == "hotline",
                Task.state == TaskState.PENDING,
                Task.assignee.is_not(None),
            )
            .order_by(Task.id)
            .limit(1)
        ).first()
    if row is None:
        return None
    uid, worker = str(row.uid), str(row.assignee)
    with transaction(factory) as s:
        lifecycle.accept(s, uid, actor=worker)
    with transaction(factory) as s:
        lifecycle.start(s, uid, actor=worker)
    with transaction(factory) as s:
        lifecycle.complete(
            s, uid, actor=worker, result="resolved", notes=DEMO_NOTES, store=photo_store()
        )
    return uid


def one_round() -> dict[str, Any]:
    """One turn of the loop; every step is a job function a DAG also calls."""
    from gridhub.jobs.resolution import resolve
    from gridhub.jobs.sync import run_sync
    from gridhub.jobs.workflow import dispatch_queued, produce_events, relay_once

    out: dict[str, Any] = {}
    reports = run_sync("hotline")
    out["hotline"] = {k: sum(int(r.get(k) or 0) for r in reports) for k in ("received",)}
    resolved = resolve()
    out["resolution"] = {k: v for k, v in resolved.items() if isinstance(v, int | float)}
    produced = produce_events()
    out["events"] = {name: totals.get("events", 0) for name, totals in produced.items()}
    out["dispatch"] = dispatch_queued()
    completed = complete_one_hotline_task()
    out["completed_task"] = completed
    out["relay"] = relay_once()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gridhub.demo.trickle")
    parser.add_argument("--every", type=float, default=10.0)
    parser.add_argument("--events", type=Path, required=True)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with args.events.open("a", encoding="utf-8") as out:
        while not stop.is_set():
            began = time.monotonic()
            try:
                line: dict[str, Any] = {"state": "success", **one_round()}
            except Exception as exc:  # a source briefly away: say so, try again next round
                traceback.print_exc()
                line = {"state": "failed", "error": f"{type(exc).__name__}: {exc}"}
            line["seconds"] = round(time.monotonic() - began, 2)
            out.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
            out.flush()
            stop.wait(max(0.0, args.every - (time.monotonic() - began)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
