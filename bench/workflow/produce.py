"""``python -m bench.workflow.produce --persons N``: event production, before vs after.

Builds a realistic store the way the demo does (one synthetic district; the 民政 database
and the health FHIR server fed from it; both synced through their adapters; identity
resolution over the store), then runs ``gridhub.jobs.workflow.produce_events`` for the
civil-affairs and health producers twice on copies of it, each in its own process:

* **before**: the ``workflow`` package as last committed (``git show HEAD:workflow/…``,
  laid over the tree on ``sys.path``), on a store without the cursor index of migration 0008;
* **after**: the working tree.

Each runs ``--repeat`` times, alternating, on fresh copies; the fastest run counts. All
runs must leave the same events, reports, tasks and watermarks (compared by digest; the
bench fails otherwise), and a second pass must find no new record. Figures go to
``bench/results/workflow_produce.json`` with the machine's load (``uptime``), because a
shared machine's load moves every figure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results" / "workflow_produce.json"
PRODUCERS = ("civil_affairs", "health")
_SOURCES = ("civil_affairs", "hukou", "health")  # what those producers read
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # fixed: both runs must agree to the second


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- the store ------------------------------------------------------------------------------
def build_store(persons: int, seed: int, work: Path) -> dict[str, Any]:
    """District → 民政 (ODBC) and health (FHIR) → sync → resolution, in ``work/store.db``."""
    from simulators.civil_affairs import CivilAffairsSimulator
    from simulators.district import District
    from simulators.health import HealthSimulator
    from simulators.health.data import district_health

    started = time.perf_counter()
    district = District(persons, seed)
    url = f"sqlite:///{work / 'store.db'}"
    civil = CivilAffairsSimulator.sqlite(work / "civil_affairs.db", seed=seed)
    civil.build(district)
    health = HealthSimulator(
        district_health(10**9, seed=seed, district=district).resources,
        seed=seed,
        subprocess=True,
        port=_free_port(),
    )
    base_url = health.start()
    try:
        os.environ["GRIDHUB_CIVIL_AFFAIRS__CONNECTION_STRING"] = civil.connection_string
        os.environ["GRIDHUB_HEALTH__BASE_URL"] = base_url
        from gridhub.demo.seed import seed_store
        from gridhub.settings import get_settings

        get_settings.cache_clear()
        seed_store(url, district)
        from gridhub.jobs.sync import run_sync

        synced = {s: run_sync(s, database_url=url) for s in PRODUCERS}
    finally:
        health.stop()
    from canonical_model.store import make_engine, session_factory, transaction
    from resolution.store import resolve_store

    engine = make_engine(url)
    with transaction(session_factory(engine)) as s:
        resolved = resolve_store(s)
    with engine.connect() as conn:  # everything into the main file: the runs copy only that
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "synced": {
            source: sum(int(r.get("inserted", 0) or 0) for r in reports)
            for source, reports in synced.items()
        },
        "persons_resolved": resolved.get("persons") if isinstance(resolved, dict) else None,
    }


def _without_cursor_index(db: Path) -> None:
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("DROP INDEX IF EXISTS ix_source_record_cursor")


def _committed_workflow(into: Path) -> Path:
    """``workflow/`` as in HEAD, for the *before* run (read with ``git show``, no git writes)."""
    names = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", "HEAD", "workflow"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in names:
        blob = subprocess.run(
            ["git", "show", f"HEAD:{name}"], cwd=REPO, capture_output=True, check=True
        ).stdout
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
    return into


# --- one run (child process) ------------------------------------------------------------------
def _digest(rows: Any) -> str:
    return hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()[:16]


def run_once(db: Path) -> dict[str, Any]:
    """produce_events over ``db``; the outcome as counts and digests (no personal data)."""
    from sqlalchemy import create_engine, func, select, text

    from canonical_model import SourceRecord
    from gridhub.jobs.workflow import produce_events

    url = f"sqlite:///{db}"
    engine = create_engine(url)
    with engine.connect() as conn:
        records = conn.scalar(
            select(func.count()).where(
                SourceRecord.source.in_(("civil_affairs", "hukou", "health"))
            )
        )
    started = time.perf_counter()
    report = produce_events(url, list(PRODUCERS), now=NOW)
    seconds = time.perf_counter() - started
    again = produce_events(url, list(PRODUCERS), now=NOW)  # idempotence: nothing new
    queries = {
        "events": "SELECT type, severity, occurred_at, person_id, address_id, grid_code, source,"
        " source_ref, dedup_key, payload, report_count FROM event ORDER BY source, source_ref",
        "reports": "SELECT r.source, r.source_ref, e.source_ref FROM event_report r"
        " JOIN event e ON e.id = r.event_id ORDER BY r.source, r.source_ref",
        "tasks": "SELECT t.category, t.priority, t.state, t.sla_deadline, t.person_id,"
        " t.requester_source, t.requester_ref, t.grid_code, t.assignee, e.source_ref"
        " FROM task t JOIN event e ON e.id = t.event_id"
        " ORDER BY e.source, e.source_ref, t.category",
        "watermarks": "SELECT stream, cursor, records_seen FROM sync_state"
        " WHERE source = 'workflow' ORDER BY stream",
    }
    with engine.connect() as conn:
        outcome = {
            name: {"rows": len(rows), "sha256": _digest(rows)}
            for name, sql in queries.items()
            for rows in [conn.execute(text(sql)).all()]
        }
    engine.dispose()
    return {
        "records": int(records or 0),
        "seconds": round(seconds, 2),
        "records_per_s": round((records or 0) / seconds, 1) if seconds else None,
        "report": report,
        "rerun_records": sum(v.get("records", 0) for v in again.values()),
        "outcome": outcome,
    }


def _child(db: Path, overlay: Path | None) -> dict[str, Any]:
    env = dict(os.environ)
    paths = [str(overlay)] if overlay is not None else []
    env["PYTHONPATH"] = os.pathsep.join([*paths, str(REPO)])
    out = subprocess.run(
        [sys.executable, "-m", "bench.workflow.produce", "--run", str(db)],
        cwd=overlay or REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _produced(run: dict[str, Any]) -> int:
    return sum(int(report.get("records", 0)) for report in run["report"].values())


def _fastest(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = dict(min(runs, key=lambda r: float(r["seconds"])))
    best["all_seconds"] = [r["seconds"] for r in runs]
    return best


def measure(persons: int, seed: int, work: Path, repeat: int) -> dict[str, Any]:
    store = build_store(persons, seed, work)
    overlay = _committed_workflow(work / "head")
    load_before = _uptime()
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for _ in range(repeat):  # alternating, each on a fresh copy: load drifts hit both alike
        for name in runs:
            db = work / f"{name}.db"
            for suffix in ("", "-wal", "-shm"):  # a stale WAL would replay the last run
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(work / "store.db", db)
            if name == "before":
                _without_cursor_index(db)
            runs[name].append(_child(db, overlay if name == "before" else None))
    load_after = _uptime()
    outcomes = {json.dumps(r["outcome"], sort_keys=True) for rs in runs.values() for r in rs}
    if len(outcomes) != 1:
        raise SystemExit(f"results differ between runs: {sorted(outcomes)}")
    if any(_produced(r) != r["records"] for rs in runs.values() for r in rs):
        raise SystemExit("a run did not read every record once")
    if any(r["rerun_records"] for rs in runs.values() for r in rs):
        raise SystemExit("a second pass found records again: the watermark did not hold")
    before, after = _fastest(runs["before"]), _fastest(runs["after"])
    return {
        "benchmark": "workflow.produce_events (civil_affairs + health)",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "persons": persons,
        "seed": seed,
        "store": store,
        "uptime_before": load_before,
        "uptime_after": load_after,
        "before": before,
        "after": after,
        "repeat": repeat,
        "speedup": round(before["seconds"] / after["seconds"], 1) if after["seconds"] else None,
        "same_results": True,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workflow.produce")
    parser.add_argument("--persons", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest counts")
    parser.add_argument("--work", type=Path, help="keep the stores here (default: a temp dir)")
    parser.add_argument("--no-write", action="store_true", help="do not write the results file")
    parser.add_argument("--run", type=Path, help=argparse.SUPPRESS)  # the child's entry
    args = parser.parse_args(argv)
    if args.run is not None:
        print(json.dumps(run_once(args.run), default=str))
        return 0
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        result = measure(args.persons, args.seed, args.work, args.repeat)
    else:
        with tempfile.TemporaryDirectory(prefix="gridhub-bench-produce-") as tmp:
            result = measure(args.persons, args.seed, Path(tmp), args.repeat)
    if not args.no_write:  # one entry per district size; the other sizes' figures stay
        kept: dict[str, Any] = {}
        if RESULTS.exists():
            kept = json.loads(RESULTS.read_text(encoding="utf-8")).get("by_persons", {})
        kept[str(args.persons)] = result
        document = {"benchmark": result["benchmark"], "by_persons": kept}
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8"
        )
    b, a = result["before"], result["after"]
    print("| run | records | seconds | records/s |\n|---|---|---|---|")
    print(f"| before | {b['records']} | {b['seconds']} | {b['records_per_s']} |")
    print(f"| after | {a['records']} | {a['seconds']} | {a['records_per_s']} |")
    print(f"speedup ×{result['speedup']}, same results: {result['same_results']}")
    print(f"load: {result['uptime_after']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
