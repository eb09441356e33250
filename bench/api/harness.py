"""The pieces of the API benchmark: databases, servers as processes, CPU accounting, plans.

Servers run as their own processes (as ``gridhub serve`` would run them) and the load comes
from another process on loopback, so the CPU figures here are per process tree: the API's
workers, and the PostgreSQL backends serving the benchmark's database.
"""

from __future__ import annotations

import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from bench.api.dataset import Loaded
from bench.api.wrk import run_wrk
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


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports (``--worker-ports`` takes a range)."""
    for _ in range(100):
        base = free_port()
        if base + count - 1 <= 65535 and all(_free(base + n) for n in range(1, count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports found")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


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
    #: gRPC: each process's own port, beside the shared one (``grpc_api.serving``)
    own_ports: tuple[int, ...] = ()


@contextmanager
def api_server(env: dict[str, str], workers: int) -> Iterator[Server]:
    port = free_port()
    command = [sys.executable, "-m", "bench.api.server", "--http", "--port", str(port)]
    command += ["--workers", str(workers)]  # as ``gridhub serve api`` runs them
    process = subprocess.Popen(command, cwd=REPO, env=env)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz", process)
        yield Server(port, [process.pid], make_url(env["GRIDHUB_DATABASE_URL"]).database or "")
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def grpc_servers(env: dict[str, str], processes: int, threads: int) -> Iterator[Server]:
    """``processes`` servers sharing a port, each with a port of its own too: the load is
    spread over the own ports, evenly, as a client balancing its calls would (the shared
    port leaves the split of a few connections to the kernel's hash)."""
    port = free_port()
    own = tuple(free_port() for _ in range(processes))
    command = [sys.executable, "-m", "bench.api.server", "--port", str(port)]
    command += ["--threads", str(threads), "--reuse-port"]
    started = [
        subprocess.Popen(
            [*command, "--own-port", str(mine)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for mine in own
    ]
    try:
        for process in started:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError("gRPC server did not start")
        yield Server(
            port,
            [p.pid for p in started],
            make_url(env["GRIDHUB_DATABASE_URL"]).database or "",
            own,
        )
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(timeout=30)


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 300  # a niced server on a busy machine starts slowly
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
    wrk = plan.pop("wrk", None)

    def run(p: dict[str, Any]) -> dict[str, Any]:
        return run_wrk(wrk, p) if wrk and p["mode"] == "http" else _client(p)

    if plan.get("warmup", 0):
        run({**plan, "duration": plan["warmup"], "warmup": 0})
    before, db_before = cpu_seconds(server.pids), db_cpu_seconds(server.database)
    result = run({**plan, "warmup": 0})
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
    result["client"] = "python"
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
