"""`gridhub up --with-api` for real: airflow standalone in a throwaway AIRFLOW_HOME, then a stop.

The DAGs are created paused here (``dags_are_paused_at_creation``), so only `gridhub up`
can have unpaused them; a scheduled run proves the scheduler took them on their schedules.
Every process seen under `gridhub up` while it ran must be gone after SIGTERM.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

REPO = Path(__file__).resolve().parents[3]
GRIDHUB = str(Path(sys.executable).with_name("gridhub"))
DAG_IDS = {p.stem for p in (REPO / "dags").glob("*.py") if not p.name.startswith("_")}
START_BUDGET_S = 600.0  # cold Airflow start on a shared two-core machine


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Watch:
    """Every process that ever ran under `gridhub up`, with its process group."""

    def __init__(self, root: psutil.Process) -> None:
        self.root = root
        self.seen: dict[int, float] = {}
        self.groups: set[int] = set()

    def sample(self) -> None:
        try:
            children = self.root.children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for child in children:
            try:
                self.seen[child.pid] = child.create_time()
                self.groups.add(os.getpgid(child.pid))
            except (psutil.NoSuchProcess, ProcessLookupError):
                continue

    def survivors(self) -> list[str]:
        left = []
        own_group = os.getpgid(0)
        for proc in psutil.process_iter(["pid", "create_time", "status", "cmdline"]):
            try:
                mine = self.seen.get(proc.pid) == proc.info["create_time"]
                in_group = os.getpgid(proc.pid) in self.groups - {own_group}
            except (ProcessLookupError, psutil.Error):
                continue
            if (mine or in_group) and proc.info["status"] != psutil.STATUS_ZOMBIE:
                left.append(f"{proc.pid} {' '.join(proc.info['cmdline'] or [])[:120]}")
        return left


def _api(port: int, passwords: Path) -> httpx.Client:
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60.0)
    password = json.loads(passwords.read_text())["admin"]
    reply = client.post("/auth/token", json={"username": "admin", "password": password})
    reply.raise_for_status()
    client.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"
    return client


def _until(
    what: str, check: Any, proc: subprocess.Popen[bytes], watch: Watch, deadline: float
) -> Any:
    while time.monotonic() < deadline:
        watch.sample()
        assert proc.poll() is None, (
            f"gridhub up exited early ({proc.returncode}) waiting for {what}"
        )
        try:
            result = check()
        except (httpx.HTTPError, OSError, ValueError, KeyError):
            result = None
        if result:
            return result
        time.sleep(2.0)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.integration
@pytest.mark.timeout(1200)
def test_up_runs_the_dags_on_their_schedules_and_stops_clean(tmp_path: Path) -> None:
    home = tmp_path / "airflow-home"
    home.mkdir()
    shutil.copy(REPO / "airflow.cfg", home / "airflow.cfg")
    (home / "dags").symlink_to(REPO / "dags")
    port, api_port, grpc_port = _free_port(), _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env |= {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONFIG": str(home / "airflow.cfg"),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
        "GRIDHUB_VAR_DIR": str(tmp_path / "var"),
        "GRIDHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
    }
    extra = ["--api-port", str(api_port), "--grpc-port", str(grpc_port)]
    log = (tmp_path / "up.log").open("wb")
    proc = subprocess.Popen(
        [GRIDHUB, "up", "--port", str(port), "--stop-timeout", "30", "--with-api", *extra],
        cwd=home,  # sources' relative paths (utility inbox, …) land in tmp, not the repo
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    watch = Watch(psutil.Process(proc.pid))
    passwords = home / "var" / "airflow" / "simple_auth_manager_passwords.json.generated"
    deadline = time.monotonic() + START_BUDGET_S
    try:
        health = _until(
            "the API server's health endpoint",
            lambda: httpx.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=10).json(),
            proc,
            watch,
            deadline,
        )
        assert health["metadatabase"]["status"] == "healthy"
        api = _until(
            "the admin password file", lambda: _api(port, passwords), proc, watch, deadline
        )

        def gridhub_dags() -> dict[str, bool] | None:
            dags = api.get("/api/v2/dags", params={"tags": "gridhub", "limit": 100}).json()
            found = {d["dag_id"]: d["is_paused"] for d in dags["dags"]}
            return found if set(found) == DAG_IDS and not any(found.values()) else None

        unpaused = _until(
            "every gridhub DAG listed and unpaused", gridhub_dags, proc, watch, deadline
        )
        assert set(unpaused) == DAG_IDS

        def scheduled_runs() -> list[str]:
            runs = api.get("/api/v2/dags/~/dagRuns", params={"limit": 100}).json()["dag_runs"]
            return [r["dag_id"] for r in runs if r["run_type"] == "scheduled"]

        assert set(_until("a scheduled DAG run", scheduled_runs, proc, watch, deadline)) <= DAG_IDS
        # --with-api: the query API and gRPC serve alongside.
        _until(
            "the query API",
            lambda: (
                httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=10).status_code == 200
            ),
            proc,
            watch,
            deadline,
        )
        _until(
            "gRPC",
            lambda: socket.create_connection(("127.0.0.1", grpc_port), 5),
            proc,
            watch,
            deadline,
        ).close()
        watch.sample()
        # standalone, scheduler, dag-processor, api-server, triggerer, query API, gRPC
        assert len(watch.seen) >= 7
    finally:
        watch.sample()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=180)
        finally:
            log.close()
    output = (tmp_path / "up.log").read_text(errors="replace")
    assert proc.returncode == 0, output[-3000:]
    assert watch.survivors() == [], output[-3000:]
    assert "gridhub    | stopped" in output
    assert f"http://127.0.0.1:{port}/" in output
    assert str(passwords) in output
    # The generated admin password is in its 0600 file, never in the console output.
    assert json.loads(passwords.read_text())["admin"] not in output
    for secret in (passwords, home / "var" / "airflow" / "secrets.json"):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
