"""gRPC ``GetPerson`` load: ``python -m bench.api.grpc_load --db NAME [--persons N] …``.

Why a script of its own: ``bench.api.client`` drives gRPC from grpcio's Python asyncio client,
which spends about as much CPU per call as the server under test — on a 2-core machine it
takes the core the server needs and the figure measures the client. Here the load comes from
``h2load`` (Debian's ``nghttp2-client``: C, a few microseconds per call) speaking gRPC's
HTTP/2 framing directly; without it, it falls back to the Python client (and says so).

What it reports, per run: calls/s, h2load's latency summary, and the **CPU per call** of the
server processes (with their children), of the PostgreSQL backends of the database and of the
load generator, and their total — the figures that stay meaningful on a shared, loaded
machine (2 cores / total CPU per call bounds calls/s) — with the load average beside them.
Every call is checked: the read log must have gained exactly one ``ok`` ``person.get`` entry
per call (h2load cannot read gRPC's status trailer; the exchange log can), else the run fails.

``--repo`` serves from another checkout (e.g. ``git archive HEAD`` unpacked under /tmp), so a
before/after pair runs on the same data from the same load script.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.api.dataset import load, sample
from bench.api.harness import (
    PASSPHRASE,
    cpu_seconds,
    database,
    db_cpu_seconds,
    free_port,
    free_ports,
)
from identity import KeyRing, issue_token

REPO = Path(__file__).resolve().parents[2]
METHOD = "/gridhub.v1.PersonService/GetPerson"
_CLI = "import sys; from gridhub.cli import main; sys.argv[0] = 'gridhub'; main()"


def env_for(url: str, var_dir: Path, *, log_reads: bool) -> dict[str, str]:
    """The servers' environment; ``GRIDHUB_BENCH_LOG_READS=0`` is ``bench.api.server``'s."""
    return {
        **os.environ,
        "GRIDHUB_DATABASE_URL": url,
        "GRIDHUB_VAR_DIR": str(var_dir),
        "GRIDHUB_ENVIRONMENT": "development",
        "GRIDHUB_KEY_PASSPHRASE": PASSPHRASE,
        "GRIDHUB_BENCH_LOG_READS": "1" if log_reads else "0",
    }


@dataclass(frozen=True, slots=True)
class Target:
    uid: str
    token: str


def targets(dsn: str, var_dir: Path, count: int, rng: random.Random) -> list[Target]:
    """``count`` residents, each asked for under a token of a worker of its own grid."""
    data = sample(dsn, count, 1, rng)
    ring = KeyRing(var_dir / "keys", passphrase=PASSPHRASE)
    found = []
    for n, grid in enumerate(sorted(data.samples)):
        for uid, *_ in data.samples[grid]:
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
            found.append(Target(uid, token))
    return found


def frame(uid: str) -> bytes:
    """One gRPC length-prefixed message: GetPersonRequest{uid} (field 1, length-delimited)."""
    raw = uid.encode("ascii")
    message = b"\x0a" + bytes([len(raw)]) + raw
    return b"\x00" + struct.pack(">I", len(message)) + message


@contextmanager
def servers(
    env: dict[str, str],
    repo: Path,
    processes: int,
    threads: int,
    port: int,
    *,
    own_ports: bool = True,
) -> Iterator[tuple[list[int], list[int]]]:
    """``gridhub serve grpc --workers N`` (SO_REUSEPORT); one process when ``processes`` is 1.
    Yields the server pids and the ports to load: with ``own_ports`` each worker's own port
    (``--worker-ports``), so the load is split evenly; else the shared port, where the
    kernel's hash splits the connections (unevenly, with a few).

    A checkout without ``--workers`` (an older one, for a before figure) gets N separate
    ``bench.api.server`` processes sharing the port instead: the same thing, started by hand
    (each with ``--own-port`` where that checkout has it). A checkout with neither is loaded
    through the shared port.
    """
    env = {**env, "PYTHONPATH": str(repo), "GRIDHUB_LOG_LEVEL": "warning"}
    cli = (repo / "gridhub" / "cli" / "serve.py").read_text(encoding="utf-8")
    cli = cli.split('@app.command("grpc")', 1)[-1]
    by_hand = (repo / "bench" / "api" / "server.py").read_text(encoding="utf-8")
    ports = [port]
    if "--workers" in cli:
        command = [sys.executable, "-c", _CLI, "serve", "grpc", "--port", str(port)]
        command += ["--threads", str(threads), "--workers", str(processes)]
        if own_ports and "--worker-ports" in cli:
            base = free_ports(processes)
            command += ["--worker-ports", str(base)]
            ports = [base + n for n in range(processes)]
        started = [subprocess.Popen(command, cwd=repo, env=env)]
    else:
        command = [sys.executable, "-m", "bench.api.server", "--port", str(port)]
        command += ["--threads", str(threads), "--reuse-port"]
        own = own_ports and "--own-port" in by_hand
        if own:
            ports = [free_port() for _ in range(processes)]
        started = [
            subprocess.Popen(
                [*command, *(["--own-port", str(ports[n])] if own else [])],
                cwd=repo,
                env=env,
                stdout=subprocess.DEVNULL,
            )
            for n in range(processes)
        ]
    try:
        _wait_serving(port, started)
        yield [p.pid for p in started], ports
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(timeout=60)


def _wait_serving(port: int, started: list[subprocess.Popen[Any]]) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from grpc_api.rpc import grpc

    deadline = time.monotonic() + 120
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in started):
                raise RuntimeError("gRPC server exited")
            try:
                stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                time.sleep(2.0)  # every process of a --workers group up, not just the first
                return
            except grpc.RpcError:
                time.sleep(0.3)
    raise RuntimeError("gRPC server did not start")


def h2load(
    ports: Sequence[int], work: list[Target], calls: int, concurrency: int, tmp: Path
) -> float:
    """One h2load per target (its own connection, ``concurrency / len(work)`` streams),
    all at once, target ``n`` on ``ports[n % len(ports)]``; returns the wall seconds of the
    slowest. Output kept for :func:`summary`."""
    tmp.mkdir(parents=True, exist_ok=True)
    per = max(1, calls // len(work))
    streams = max(1, concurrency // len(work))
    jobs = []
    for n, target in enumerate(work):
        body = tmp / f"req{n}.bin"
        body.write_bytes(frame(target.uid))
        command = [
            "h2load", "-n", str(per), "-c", "1", "-m", str(streams), "-d", str(body),
            "-H", "content-type: application/grpc", "-H", "te: trailers",
            "-H", f"authorization: Bearer {target.token}",
            f"http://127.0.0.1:{ports[n % len(ports)]}{METHOD}",
        ]  # fmt: skip
        out = (tmp / f"h2load{n}.txt").open("w")
        jobs.append((subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT), out))
    started = time.perf_counter()
    for process, out in jobs:
        process.wait(timeout=600)
        out.close()
    return time.perf_counter() - started


def summary(tmp: Path) -> dict[str, Any]:
    """Succeeded requests and the mean of h2load's per-request latency, over all its runs."""
    done = 0
    means: list[float] = []
    for path in sorted(tmp.glob("h2load*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("requests:"):
                done += int(line.split(" succeeded")[0].rsplit(" ", 1)[-1])
            elif line.startswith("time for request:"):
                mean = line.split()[5]
                means.append(_ms(mean))
    return {"http_ok": done, "mean_ms": round(sum(means) / len(means), 3) if means else None}


def _ms(text: str) -> float:
    for unit, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float(text)


def ensure_h2load() -> str | None:
    """The path of ``h2load``, installing Debian's ``nghttp2-client`` if needed (as
    :func:`bench.api.wrk.ensure_wrk` does for wrk); None if impossible."""
    found = shutil.which("h2load")
    if found or not shutil.which("apt-get"):
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "nghttp2-client"],
    ):
        done = subprocess.run([*sudo, *command], env=env, capture_output=True, check=False)
        if done.returncode != 0 and command[1] == "install":
            return None
    return shutil.which("h2load")


def h2load_run(
    ports: Sequence[int], work: list[Target], calls: int, concurrency: int, tmp: Path
) -> dict[str, Any]:
    """One timed :func:`h2load` round: calls that got HTTP 200, calls/s over the slowest
    h2load's wall time, mean latency, and the CPU the h2load processes spent."""
    before = children_cpu()
    seconds = h2load(ports, work, calls, concurrency, tmp)
    client = children_cpu() - before
    got = summary(tmp)
    return {
        "requests": got["http_ok"],
        "rps": round(got["http_ok"] / seconds, 1) if seconds else 0.0,
        "mean_ms": got["mean_ms"],
        "client_cpu_seconds": client,
    }


def python_client(port: int, work: list[Target], calls: int, concurrency: int) -> float:
    """The fallback: ``bench.api.client``'s asyncio gRPC client (costs CPU: see module doc)."""
    plan = {
        "mode": "grpc",
        "port": port,
        "requests": [(t.uid, t.token) for t in work],
        "concurrency": concurrency,
        "duration": 600,
        "max_requests": calls,
        "warmup": 0,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(plan, handle)
    started = time.perf_counter()
    try:
        subprocess.run(
            [sys.executable, "-m", "bench.api.client", handle.name],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
    finally:
        Path(handle.name).unlink(missing_ok=True)
    return time.perf_counter() - started


def children_cpu() -> float:
    """User + system CPU of this process's reaped children: the load generators (h2load, or
    the Python client); the servers are reaped only after the timed run."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def logged_reads(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM exchange_log WHERE operation = 'person.get' AND result = 'ok'"
        ).fetchone()
    return int(row[0]) if row else 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(13)
    tool = "h2load" if shutil.which("h2load") and not args.python_client else "python"
    h2: dict[str, Any] = {}
    with (
        database(keep=args.db) as (url, dsn, fresh),
        tempfile.TemporaryDirectory(prefix="bench-grpc-") as tmp_name,
    ):
        tmp = Path(tmp_name)
        if fresh:
            load(dsn, args.persons, progress=lambda m: print(f"  loaded {m}", flush=True))
        work = targets(dsn, tmp, args.targets, rng)
        calls = args.calls // len(work) * len(work) if tool == "h2load" else args.calls
        env = env_for(url, tmp, log_reads=not args.no_log)
        port = free_port()
        name = dsn.rsplit("dbname=", 1)[-1]
        logged_before = logged_reads(dsn)
        with servers(
            env, args.repo, args.processes, args.threads, port, own_ports=not args.shared_port
        ) as (pids, ports):
            warm = max(200, calls // 10) // len(work) * len(work)
            if tool == "h2load":
                h2load(ports, work, warm, args.concurrency, tmp / "warm")
            else:
                python_client(port, work, warm, args.concurrency)
            cpu, db, client = cpu_seconds(pids), db_cpu_seconds(name), children_cpu()
            load_before = os.getloadavg()[0]
            if tool == "h2load":
                seconds = h2load(ports, work, calls, args.concurrency, tmp / "timed")
                h2 = summary(tmp / "timed")
            else:
                seconds = python_client(port, work, calls, args.concurrency)
            cpu = cpu_seconds(pids) - cpu
            db = db_cpu_seconds(name) - db
            client = children_cpu() - client  # the load generators, reaped by now
            load_after = os.getloadavg()[0]
        # the servers have stopped: every queued read entry is committed by now
        logged = logged_reads(dsn) - logged_before
    if not args.no_log and logged != warm + calls:
        raise RuntimeError(f"{warm + calls} calls but {logged} logged reads: calls failed")
    return {
        "tool": tool,
        "repo": str(args.repo),
        "processes": args.processes,
        "ports": "shared" if ports == [port] else "own",
        "threads": args.threads,
        "concurrency": args.concurrency,
        "calls": calls,
        "log_reads": not args.no_log,
        "calls_per_s": round(calls / seconds, 1),
        **h2,
        "server_cpu_ms_per_call": round(cpu / calls * 1000, 3),
        "db_cpu_ms_per_call": round(db / calls * 1000, 3),
        "client_cpu_ms_per_call": round(client / calls * 1000, 3),
        "total_cpu_ms_per_call": round((cpu + db + client) / calls * 1000, 3),
        "load_average_1min": [round(load_before, 2), round(load_after, 2)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="database to load (if new) and keep")
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--targets", type=int, default=8, help="persons (one h2load each)")
    parser.add_argument("--no-log", action="store_true", help="read log off (bench only)")
    parser.add_argument("--python-client", action="store_true")
    parser.add_argument(
        "--shared-port", action="store_true",
        help="load through the shared port (the kernel splits connections) instead of each "
        "worker's own",
    )  # fmt: skip
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout to serve from")
    print(json.dumps(run(parser.parse_args())), flush=True)


if __name__ == "__main__":
    main()
