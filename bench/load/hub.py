"""The hub under load as district IT runs it: ``gridhub serve api``, ``gridhub serve grpc`` and
``gridhub sync hukou``, each a process of its own configured only through ``GRIDHUB_*``.

Servers run in their own sessions and are stopped with their whole process group
(``gridhub.processes.stop_group``), so a uvicorn worker never outlives the benchmark. A sync
is waited for with ``wait4``, which gives its CPU time; its rate is read back from the store:
the records its checkpoints took in (one exchange-log entry each) between its first and last
checkpoint, over the time between them (the interpreter's start-up and the first page are the
same with or without load, and would blur the comparison).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

from gridhub.processes import stop_group

ROOT = Path(__file__).resolve().parents[2]
GRIDHUB = Path(sys.executable).with_name("gridhub")
PASSPHRASE = "bench-only-passphrase"
READY_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hub_env(store_url: str, var_dir: Path, **sources: Mapping[str, Any]) -> dict[str, str]:
    """The hub's environment: store, var folder (its key ring) and source sections
    (``hukou={"wsdl_url": …}`` → ``GRIDHUB_HUKOU__WSDL_URL``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDHUB_")}
    env.update(
        {
            "GRIDHUB_DATABASE_URL": store_url,
            "GRIDHUB_VAR_DIR": str(var_dir),
            "GRIDHUB_ENVIRONMENT": "development",
            "GRIDHUB_KEY_PASSPHRASE": PASSPHRASE,
            "GRIDHUB_LOG_LEVEL": "WARNING",  # access lines at INFO would cost a write each
            "PYTHONPATH": str(ROOT),
        }
    )
    for source, fields in sources.items():
        for name, value in fields.items():
            env[f"GRIDHUB_{source.upper()}__{name.upper()}"] = str(value)
    return env


@dataclass
class Servers:
    http_port: int
    grpc_port: int
    procs: list[subprocess.Popen[bytes]]

    def cpu(self) -> tuple[float, frozenset[int]]:
        """User + system CPU of the server processes and their children (uvicorn workers),
        and which processes they are: a worker that uvicorn replaced (it does so with one
        that misses its health checks, as on an overloaded machine) takes its CPU with it."""
        total, pids = 0.0, set()
        for proc in self.procs:
            try:
                root = psutil.Process(proc.pid)
                for p in (root, *root.children(recursive=True)):
                    times = p.cpu_times()
                    total += times.user + times.system
                    pids.add(p.pid)
            except psutil.NoSuchProcess:
                continue
        return total, frozenset(pids)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited ({proc.returncode}); see {log}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready within {READY_TIMEOUT_S:.0f} s; see {log}")


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gRPC server exited ({proc.returncode}); see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gRPC server not listening within {READY_TIMEOUT_S:.0f} s; see {log}")


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(GRIDHUB), *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextmanager
def servers(
    env: dict[str, str], logs: Path, *, api_workers: int, grpc_threads: int
) -> Iterator[Servers]:
    """The REST API and gRPC, ready; both process groups stopped at the end."""
    http_port, grpc_port = free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        api = _spawn(
            ["serve", "api", "--port", str(http_port), "--workers", str(api_workers),
             "--log-level", "warning"],
            env, logs / "api.log",
        )  # fmt: skip
        procs.append(api)
        rpc = _spawn(
            ["serve", "grpc", "--port", str(grpc_port), "--threads", str(grpc_threads)],
            env, logs / "grpc.log",
        )  # fmt: skip
        procs.append(rpc)
        _wait_ready(f"http://127.0.0.1:{http_port}/readyz", api, logs / "api.log")
        _wait_port(grpc_port, rpc, logs / "grpc.log")
        yield Servers(http_port, grpc_port, procs)
    finally:
        for proc in reversed(procs):
            stop_group(proc, 15.0)


@dataclass
class SyncRun:
    """One ``gridhub sync``: when it ran (``time.monotonic``), what it stored, what it cost."""

    started: float
    ended: float
    returncode: int
    cpu_s: float
    records: int = 0
    steady_rate: float | None = None  # between its first and last checkpoint

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def summary(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 2),
            "records": self.records,
            "rate_first_to_last_checkpoint": None
            if self.steady_rate is None
            else round(self.steady_rate, 1),
            "rate_whole_process": round(self.records / self.seconds, 1) if self.seconds else None,
            "cpu_s": round(self.cpu_s, 2),
            "cpu_us_per_record": round(self.cpu_s / max(1, self.records) * 1e6, 1),
            "returncode": self.returncode,
        }


def sync(source: str, env: dict[str, str], dsn: str, log: Path, timeout_s: float) -> SyncRun:
    """``gridhub sync <source>`` to the end, from an empty cursor; its batch read back.

    The CPU is ``wait4``'s: the sync process and the mapping worker it reaped. A sync still
    running after ``timeout_s`` (or when this process is being stopped) is stopped with its
    process group: it runs in a session of its own, out of reach of whoever stops us."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM sync_state WHERE source = %s", (source,))
    started = time.monotonic()
    proc = _spawn(["sync", source], env, log)
    pid = 0
    try:
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > timeout_s:
                raise RuntimeError(f"gridhub sync {source} still running after {timeout_s:.0f} s")
            time.sleep(0.05)
    finally:
        if pid == 0:  # not reaped: still running
            stop_group(proc, 5.0)
    ended = time.monotonic()
    proc.returncode = os.waitstatus_to_exitcode(status)
    run = SyncRun(started, ended, proc.returncode, usage.ru_utime + usage.ru_stime)
    if run.returncode != 0:
        raise RuntimeError(f"gridhub sync {source} exited {run.returncode}; see {log}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT last_batch_id FROM sync_state WHERE source = %s", (source,)
        ).fetchone()
        batch = None if row is None else row[0]
        # One exchange-log entry per checkpoint, stamped in the checkpoint's transaction,
        # with the records it took in (stored, unchanged or quarantined alike).
        checkpoints = conn.execute(
            "SELECT at, record_count FROM exchange_log WHERE correlation_id = %s "
            "AND operation LIKE 'sync.%%' ORDER BY at",
            (batch,),
        ).fetchall()
    run.records = sum(n for _, n in checkpoints)
    if len(checkpoints) >= 2:
        span = (checkpoints[-1][0] - checkpoints[0][0]).total_seconds()
        if span > 0:
            run.steady_rate = (run.records - checkpoints[0][1]) / span
    return run


__all__ = ["PASSPHRASE", "Servers", "SyncRun", "hub_env", "servers", "sync"]
