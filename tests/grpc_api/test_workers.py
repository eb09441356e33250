"""``gridhub serve grpc --workers 2``: two processes share the port (SO_REUSEPORT), both
serve, and SIGTERM stops the group with every read entry committed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import grpc
from api import Hub
from canonical_model import ExchangeLogEntry
from grpc_api.gen.gridhub.v1 import person_pb2, person_pb2_grpc
from grpc_api.serving import ServeSpec, serve
from tests.api.district import Seeded, Settings, Tokens, grpc_auth

REPO = Path(__file__).resolve().parents[2]
CLI = "import sys; from gridhub.cli import main; sys.argv[0] = 'gridhub'; main()"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _reads(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        query = select(func.count()).where(ExchangeLogEntry.operation == "person.get")
        return int(s.execute(query).scalar_one())


def test_two_workers_share_the_port_and_stop_cleanly(
    settings: Settings,
    seeded: Seeded,
    tokens: Tokens,
    hub: Hub,
    sessions: sessionmaker[Session],
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GRIDHUB_DATABASE_URL": settings.database_url,
        "GRIDHUB_VAR_DIR": str(settings.var_dir),
        "GRIDHUB_KEY_PASSPHRASE": settings.key_passphrase.get_secret_value(),
        "GRIDHUB_ENVIRONMENT": "development",
    }
    command = [sys.executable, "-c", CLI, "serve", "grpc", "--port", str(port)]
    parent = subprocess.Popen(
        [*command, "--workers", "2", "--threads", "2"],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stderr is not None
        line = parent.stderr.readline()  # printed once every worker has bound the port
        assert f"listening on 127.0.0.1:{port}, 2 process(es)" in line, line
        servers = [
            p
            for p in psutil.Process(parent.pid).children()
            if any("multiprocessing" in part for part in p.cmdline())
            and "resource_tracker" not in " ".join(p.cmdline())
        ]
        assert len(servers) == 2
        calls = 12
        for _ in range(calls):  # a channel per call: new connections, spread by the kernel
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = person_pb2_grpc.PersonServiceStub(channel)
                answer = stub.GetPerson(
                    person_pb2.GetPersonRequest(uid=seeded.p1),
                    metadata=grpc_auth(tokens.w1),
                    timeout=30,
                )
                assert answer.uid == seeded.p1
                assert answer.masked
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=60) == 0
        assert all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in servers)
        assert _reads(sessions) == calls  # each worker flushed its read log on the way out
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_workers_need_a_fixed_port() -> None:
    with pytest.raises(ValueError, match="fixed port"):
        serve(ServeSpec("127.0.0.1:0", workers=2), lambda: None, print)  # type: ignore[arg-type,return-value]
