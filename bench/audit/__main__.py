"""Exchange-log benchmark: ``python -m bench.audit [--entries N] [--no-postgresql]``.

Measures append throughput (batched, one ORM append per entry in a batch, one entry per
transaction, and the API's group-committed read log) and the time to verify N entries
(default 1,000,000) on SQLite and PostgreSQL.
Writes ``bench/results/audit.json`` and prints a Markdown table. Not a test: the figures
depend on the machine, which is recorded alongside them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from audit import FileSigner, KeySet, append, append_many, checkpoint, verify_store
from audit.buffered import BufferedAppender
from canonical_model.store import make_engine, session_factory, upgrade

RESULTS = Path(__file__).resolve().parents[1] / "results" / "audit.json"
BATCH = 500  # entries per transaction in the batched figures
CHECKPOINT_EVERY = 10_000


def _entry(i: int) -> dict[str, Any]:
    return {
        "direction": ("read", "inbound", "outbound")[i % 3],
        "counterpart": ("api", "hukou", "hotline", "civil_affairs")[i % 4],
        "actor_subject": f"worker-{i % 500:04d}",
        "actor_role": "grid_worker",
        "purpose": "service",
        "operation": "person.get",
        "object_refs": {"persons": [f"01J{i:023d}"]},
        "record_count": 1,
        "correlation_id": f"req-{i:012d}",
    }


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(mem, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


@contextmanager
def store(backend: str, workdir: Path) -> Iterator[sessionmaker[Session]]:
    if backend == "sqlite":
        workdir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(f"sqlite:///{workdir / 'bench.db'}")
        upgrade(engine)
        try:
            yield session_factory(engine)
        finally:
            engine.dispose()
        return
    from tests.support import postgres

    postgres.ensure_running()
    with postgres.temporary_database() as name:
        engine = make_engine(postgres.url_for(name))
        upgrade(engine)
        try:
            yield session_factory(engine)
        finally:
            engine.dispose()


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_appends(sessions: sessionmaker[Session], n: int) -> dict[str, float]:
    def batched() -> None:
        for start in range(0, n, BATCH):
            with sessions() as s, s.begin():
                append_many(s, [_entry(i) for i in range(start, min(start + BATCH, n))])

    def orm_in_batches() -> None:
        for start in range(0, n, BATCH):
            with sessions() as s, s.begin():
                for i in range(start, min(start + BATCH, n)):
                    append(s, **_entry(i))

    single = max(n // 10, 200)

    def one_per_transaction() -> None:
        for i in range(single):
            with sessions() as s, s.begin():
                append(s, **_entry(i))

    def buffered_reads() -> None:
        """The API's read log: 8 threads each submit one entry per 'read'; group commit."""
        log = BufferedAppender(sessions, max_delay=0.05, max_batch=500, max_pending=20_000)

        def reader(part: int) -> None:
            for i in range(part, n, 8):
                log.submit(_entry(i))

        threads = [threading.Thread(target=reader, args=(p,)) for p in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        log.close(timeout=300)  # the figure counts entries committed, not merely queued

    return {
        "append_many, 500 per transaction": n / timed(batched),
        "append(), 500 per transaction": n / timed(orm_in_batches),
        "append(), 1 per transaction": single / timed(one_per_transaction),
        "buffered read log (8 submitting threads, group commit)": n / timed(buffered_reads),
    }


def fill(sessions: sessionmaker[Session], n: int, signer: FileSigner) -> float:
    """Append n entries in 10,000-entry transactions, checkpointing every 10,000."""
    start = time.perf_counter()
    with sessions() as s:
        done = int(s.execute(text("SELECT count(*) FROM exchange_log")).scalar_one())
    while done < n:
        size = min(CHECKPOINT_EVERY, n - done)
        with sessions() as s, s.begin():
            append_many(s, [_entry(i) for i in range(done, done + size)])
        with sessions() as s, s.begin():
            checkpoint(s, signer)
        done += size
    return time.perf_counter() - start


def run_backend(backend: str, entries: int, append_n: int) -> list[dict[str, Any]]:
    figures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gridhub-bench-audit-") as tmp:
        workdir = Path(tmp)
        signer = FileSigner.open(workdir / "keys")
        keys = KeySet.from_jwks(signer.jwks())
        with store(backend, workdir / "appends") as sessions:
            for name, value in bench_appends(sessions, append_n).items():
                # The 5,000/s target is for batches (append_many). append() in a loop and one
                # entry per transaction are reported for information: the first pays one
                # statement round trip per entry, the second measures the commit (the disk).
                target = ">= 5000" if name.startswith(("append_many", "buffered")) else None
                figures.append(
                    _figure(backend, name, "entries/s", value, target, f"{append_n} entries")
                )
        with store(backend, workdir / "verify") as sessions:
            fill_s = fill(sessions, entries, signer)
            figures.append(
                _figure(
                    backend,
                    "fill for verify (append_many + checkpoint/10k)",
                    "entries/s",
                    entries / fill_s,
                    None,
                    f"{entries} entries",
                )
            )
            with sessions() as s:
                start, cpu = time.perf_counter(), time.process_time()
                report = verify_store(s, keys)
                elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            if not report.ok or report.entries != entries:
                raise SystemExit(f"verify failed on {backend}: {report.first}")
            figure = _figure(
                backend,
                f"verify {entries:,} entries ({report.checkpoints} checkpoints)",
                "s",
                elapsed,
                "< 60" if entries >= 1_000_000 else None,
                f"{entries} entries",
            )
            # CPU time of this process: what the verifier costs, whatever else the machine
            # runs (on PostgreSQL the server's own work is not included).
            figure["cpu_seconds"] = round(cpu, 2)
            figures.append(figure)
    return figures


def _figure(
    backend: str, name: str, unit: str, value: float, target: str | None, size: str
) -> dict[str, Any]:
    return {
        "figure": f"{name} [{backend}]",
        "backend": backend,
        "unit": unit,
        "value": round(value, 2),
        "target": target,
        "data_size": size,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.audit")
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries to verify")
    parser.add_argument("--append-entries", type=int, default=20_000)
    parser.add_argument("--no-postgresql", action="store_true")
    args = parser.parse_args()
    info = machine()
    backends = ["sqlite"] + ([] if args.no_postgresql else ["postgresql"])
    figures: list[dict[str, Any]] = []
    for backend in backends:
        figures.extend(run_backend(backend, args.entries, args.append_entries))
    for fig in figures:
        fig["machine"] = info
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    print(
        f"machine: {info['cpu']}, {info['cpus']} CPUs, {info['memory_gib']} GiB, "
        f"load {info['load_average_at_start']}"
    )
    print("| figure | value | unit | target | data | client CPU s |")
    print("| --- | ---: | --- | --- | --- | ---: |")
    for fig in figures:
        print(
            f"| {fig['figure']} | {fig['value']:,.2f} | {fig['unit']} | "
            f"{fig['target'] or '-'} | {fig['data_size']} | {fig.get('cpu_seconds', '-')} |"
        )
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
