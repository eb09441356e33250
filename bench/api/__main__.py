"""API benchmark: ``python -m bench.api [--persons 1000000] [--duration 15]``.

Creates a temporary PostgreSQL database, migrates it, bulk-loads N persons (COPY), starts the
REST API (uvicorn, as ``gridhub serve api`` would) and the gRPC server as their own processes,
and drives them from a third process on loopback (``bench.api.client``), bounded in requests
and seconds. Measures:

* ``GET /api/v1/persons/{uid}`` — p99 at moderate concurrency, and throughput at high;
* ``GET /api/v1/persons?q=`` — p99 of a grid worker's searches (name, pinyin, ID, phone, address);
* gRPC ``GetPerson`` throughput;
* what the exchange log adds to the p50 of a single client, against a server with the read
  log switched off (the benchmark-only ``GRIDHUB_BENCH_LOG_READS=0``), in alternating rounds.

Requests go out under ~100 grid workers' tokens, each asking for residents of its own grid,
with identifiers masked (the default). Writes ``bench/results/api.json``; prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from bench.api.dataset import Loaded, load, sample
from canonical_model.store import make_engine, upgrade
from identity import KeyRing, issue_token

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results" / "api.json"
PASSPHRASE = "bench-only-passphrase"
WORKERS_SAMPLED = 100


def machine() -> dict[str, Any]:
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "system": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def database(keep: str | None = None) -> Iterator[tuple[str, str, bool]]:
    """(SQLAlchemy URL, libpq DSN, fresh) of the database to use.

    Default: a fresh, migrated database, dropped afterwards. ``keep`` names one to create if
    missing and keep, so a loaded district can be measured again later without reloading.
    """
    from tests.support import postgres

    postgres.ensure_running()

    def dsn_of(name: str) -> str:
        return f"host={postgres.HOST} port={postgres.PORT} user={postgres.USER} dbname={name}"

    if keep is not None:
        import psycopg

        with psycopg.connect(dsn_of("postgres"), autocommit=True) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (keep,))
            fresh = exists.fetchone() is None
            if fresh:
                admin.execute(f'CREATE DATABASE "{keep}"')
        if fresh:
            _migrate(postgres.url_for(keep))
        yield postgres.url_for(keep), dsn_of(keep), fresh
        return
    with postgres.temporary_database() as name:
        _migrate(postgres.url_for(name))
        yield postgres.url_for(name), dsn_of(name), True


def _migrate(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


def env_for(url: str, var_dir: Path, *, log_reads: bool) -> dict[str, str]:
    return {
        **os.environ,
        "GRIDHUB_DATABASE_URL": url,
        "GRIDHUB_VAR_DIR": str(var_dir),
        "GRIDHUB_ENVIRONMENT": "development",
        "GRIDHUB_KEY_PASSPHRASE": PASSPHRASE,
        "GRIDHUB_BENCH_LOG_READS": "1" if log_reads else "0",
        "PYTHONPATH": str(REPO),
    }


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of the server processes and their children (uvicorn's workers)."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for proc in (root, *root.children(recursive=True)):
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def db_cpu_seconds(database_name: str) -> float:
    """CPU of the PostgreSQL backends serving ``database_name`` (pooled: they outlive a run)."""
    import psutil

    total = 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            line = " ".join(proc.info["cmdline"] or ())
            if proc.info["name"] == "postgres" and f" {database_name} " in f"{line} ":
                times = proc.cpu_times()
                total += times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


@dataclass
class Server:
    port: int
    pids: list[int]
    database: str = ""


@contextmanager
def api_server(env: dict[str, str], workers: int) -> Iterator[Server]:
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "bench.api.server:make_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, env=env)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz", process)
        yield Server(port, [process.pid], make_url(env["GRIDHUB_DATABASE_URL"]).database or "")
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def grpc_servers(env: dict[str, str], processes: int, threads: int) -> Iterator[Server]:
    port = free_port()
    command = [sys.executable, "-m", "bench.api.server", "--port", str(port)]
    command += ["--threads", str(threads), "--reuse-port"]
    started = [
        subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    try:
        for process in started:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError("gRPC server did not start")
        yield Server(
            port, [p.pid for p in started], make_url(env["GRIDHUB_DATABASE_URL"]).database or ""
        )
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(timeout=30)


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("API server exited")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("API server did not become ready")


def run_client(plan: dict[str, Any], server: Server) -> dict[str, Any]:
    """Warm up, then run one plan from a separate process; adds the servers' CPU per request.

    The warm-up is a run of its own, so the CPU figure covers exactly the timed requests.
    """
    plan = {**plan, "port": server.port}
    if plan.get("warmup", 0):
        _client({**plan, "duration": plan["warmup"], "warmup": 0})
    before, db_before = cpu_seconds(server.pids), db_cpu_seconds(server.database)
    result = _client({**plan, "warmup": 0})
    spent = cpu_seconds(server.pids) - before
    db_spent = db_cpu_seconds(server.database) - db_before
    count = max(1, result["requests"])
    result["server_cpu_ms_per_request"] = round(spent / count * 1000, 3)
    result["db_cpu_ms_per_request"] = round(db_spent / count * 1000, 3)
    if result["errors"]:
        raise RuntimeError(f"requests failed: {result['statuses']}")
    return result


def _client(plan: dict[str, Any]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(plan, handle)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "bench.api.client", handle.name],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=float(plan["duration"]) + 120,
        )
    finally:
        Path(handle.name).unlink(missing_ok=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def requests_for(data: Loaded, ring: KeyRing, rng: random.Random) -> dict[str, list[Any]]:
    """Per kind, (path or uid, token) pairs: each token asks only for its own grid."""
    get: list[Any] = []
    search: list[Any] = []
    grpc_get: list[Any] = []
    for n, grid in enumerate(sorted(data.samples)):
        token = issue_token(
            ring,
            subject=f"W{n:04d}",
            role="grid_worker",
            issuer="gridhub",
            audience="gridhub-api",
            grids=[grid],
            purposes=["welfare_visit"],
            ttl=timedelta(hours=4),
        )
        for uid, name, pinyin, rid, phone, road in data.samples[grid]:
            get.append((f"/api/v1/persons/{uid}", token))
            grpc_get.append((uid, token))
            for q, by in (
                (name[:1], "name"),
                (name, "name"),
                (pinyin.split()[0] + " " + pinyin.split()[1][:1], "pinyin"),
                (rid, "resident_id"),
                (phone, "phone"),
                (road, "address"),
            ):
                search.append(
                    (f"/api/v1/persons?q={httpx.QueryParams({'q': q})['q']}&by={by}", token)
                )
    for items in (get, search, grpc_get):
        rng.shuffle(items)
    search = [(str(httpx.URL(path)), token) for path, token in search]
    return {"get": get, "search": search, "grpc": grpc_get}


def check_responses(port: int, plans: dict[str, list[Any]]) -> None:
    """The benchmarked requests succeed and are masked before anything is timed."""
    path, token = plans["get"][0]
    r = httpx.get(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.json()["masked"] is True
    path, token = next(p for p in plans["search"] if "by=resident_id" in p[0])
    r = httpx.get(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) == 1, r.text


def met(value: float, target: str) -> bool:
    """Whether ``value`` meets a target written as ``< 20``, ``>= 1000`` or ``<= 5``."""
    op, bound = target.split()
    limit = float(bound)
    return {"<": value < limit, "<=": value <= limit, ">": value > limit, ">=": value >= limit}[op]


def figure(
    name: str, unit: str, value: float, target: str, size: str, **extra: Any
) -> dict[str, Any]:
    return {
        "figure": name,
        "unit": unit,
        "value": value,
        "target": target,
        "data_size": size,
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="REST and gRPC API benchmark")
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers / gRPC processes")
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--overhead-rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--keep", metavar="DB", help="load into (or reuse) this database and keep it"
    )
    args = parser.parse_args()
    info = machine()
    rng = random.Random(11)
    figures: list[dict[str, Any]] = []
    with (
        database(args.keep) as (url, dsn, fresh),
        tempfile.TemporaryDirectory(prefix="bench-api-") as tmp,
    ):
        if fresh:
            loaded = load(dsn, args.persons, progress=lambda m: print(f"  loaded {m}", flush=True))
            print(f"loaded {args.persons:,} persons in {loaded.seconds:.0f} s", flush=True)
        data = sample(dsn, WORKERS_SAMPLED, 30, rng)
        size = f"{data.persons:,} persons (PostgreSQL)"
        var_dir = Path(tmp)
        ring = KeyRing(var_dir / "keys", passphrase=PASSPHRASE)
        plans = requests_for(data, ring, rng)
        limits = {"duration": args.duration, "max_requests": args.max_requests, "warmup": 3}
        env = env_for(url, var_dir, log_reads=True)
        with api_server(env, args.workers) as server:
            check_responses(server.port, plans)
            http = {"mode": "http", **limits}
            moderate = run_client({**http, "requests": plans["get"], "concurrency": 8}, server)
            busy = run_client({**http, "requests": plans["get"], "concurrency": 32}, server)
            search = run_client({**http, "requests": plans["search"], "concurrency": 8}, server)
        figures += [
            figure("GET /api/v1/persons/{uid} p99, 8 concurrent clients", "ms",
                   moderate["p99_ms"], "< 20", size, p50_ms=moderate["p50_ms"],
                   rps=moderate["rps"],
                   server_cpu_ms_per_request=moderate["server_cpu_ms_per_request"],
                   db_cpu_ms_per_request=moderate["db_cpu_ms_per_request"]),
            figure("GET /api/v1/persons/{uid} throughput, 32 concurrent clients", "requests/s",
                   busy["rps"], ">= 1000", size, p50_ms=busy["p50_ms"], p99_ms=busy["p99_ms"],
                   server_cpu_ms_per_request=busy["server_cpu_ms_per_request"],
                   db_cpu_ms_per_request=busy["db_cpu_ms_per_request"]),
            figure("GET /api/v1/persons?q= (search) p99, 8 concurrent clients", "ms",
                   search["p99_ms"], "< 50", size, p50_ms=search["p50_ms"], rps=search["rps"],
                   server_cpu_ms_per_request=search["server_cpu_ms_per_request"],
                   db_cpu_ms_per_request=search["db_cpu_ms_per_request"]),
        ]  # fmt: skip
        with grpc_servers(env, args.workers, threads=16) as server:
            plan = {"mode": "grpc", **limits, "requests": plans["grpc"], "concurrency": 32}
            grpc_run = run_client(plan, server)
        figures.append(
            figure("gRPC GetPerson throughput, 32 concurrent calls", "requests/s",
                   grpc_run["rps"], ">= 2000", size, p50_ms=grpc_run["p50_ms"],
                   p99_ms=grpc_run["p99_ms"],
                   server_cpu_ms_per_request=grpc_run["server_cpu_ms_per_request"],
                   db_cpu_ms_per_request=grpc_run["db_cpu_ms_per_request"])
        )  # fmt: skip
        figures.append(logging_overhead(url, var_dir, plans, args, size))
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    for item in figures:
        item.update(met=met(item["value"], item["target"]), date=stamp, machine=info)
    if not args.no_write:
        RESULTS.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(table(figures))


def logging_overhead(
    url: str, var_dir: Path, plans: dict[str, list[Any]], args: Any, size: str
) -> dict[str, Any]:
    """One client at a time, alternating a logging and a non-logging server, same requests.

    Alternating rounds (rather than one long run each) keeps a change in the machine's
    background load from landing on one side only; the medians of the rounds are compared.
    """
    limits = {"duration": min(args.duration, 10.0), "max_requests": 5000, "warmup": 2}
    p50: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    db: dict[bool, list[float]] = {True: [], False: []}
    with (
        api_server(env_for(url, var_dir, log_reads=True), 1) as with_log,
        api_server(env_for(url, var_dir, log_reads=False), 1) as without_log,
    ):
        for _ in range(args.overhead_rounds):
            for logged, server in ((True, with_log), (False, without_log)):
                result = run_client(
                    {"mode": "http", **limits, "requests": plans["get"], "concurrency": 1}, server
                )
                p50[logged].append(result["p50_ms"])
                cpu[logged].append(result["server_cpu_ms_per_request"])
                db[logged].append(result["db_cpu_ms_per_request"])
    on, off = statistics.median(p50[True]), statistics.median(p50[False])
    cpu_on, cpu_off = statistics.median(cpu[True]), statistics.median(cpu[False])
    return figure(
        "exchange logging: added p50 latency of GET /api/v1/persons/{uid}, 1 client", "%",
        round((on - off) / off * 100, 1), "<= 5", size,
        p50_with_log_ms=on, p50_without_log_ms=off,
        server_cpu_with_log_ms_per_request=cpu_on, server_cpu_without_log_ms_per_request=cpu_off,
        db_cpu_with_log_ms_per_request=statistics.median(db[True]),
        db_cpu_without_log_ms_per_request=statistics.median(db[False]),
        rounds=args.overhead_rounds,
    )  # fmt: skip


def table(figures: list[dict[str, Any]]) -> str:
    lines = ["| figure | value | target | met | detail |", "| --- | ---: | --- | --- | --- |"]
    for f in figures:
        detail = ", ".join(
            f"{k} {v}" for k, v in f.items()
            if k.endswith(("_ms", "rps", "rounds", "_per_request"))
        )  # fmt: skip
        verdict = "yes" if f["met"] else "**no**"
        lines.append(
            f"| {f['figure']} | {f['value']} {f['unit']} | {f['target']} | {verdict} | {detail} |"
        )
    first = figures[0]
    lines.append("")
    lines.append(f"data: {first['data_size']}; machine: {first['machine']['cpu']}, "
                 f"{first['machine']['cpus']} CPUs; load average at start "
                 f"{first['machine']['load_average_at_start']}; {first['date']}")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
