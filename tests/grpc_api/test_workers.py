"""``gridhub serve grpc --workers 2``: two processes share the port (SO_REUSEPORT), both
serve, and SIGTERM stops the group with every read entry committed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import grpc
from bench.api.harness import free_port, free_ports
from canonical_model import ExchangeLogEntry
from grpc_api.gen.gridhub.v1 import event_pb2, event_pb2_grpc, person_pb2, person_pb2_grpc
from grpc_api.serving import ServeSpec, serve
from tests.api.district import Seeded, Settings, Tokens, grpc_auth

REPO = Path(__file__).resolve().parents[2]
CLI = "import sys; from gridhub.cli import main; sys.argv[0] = 'gridhub'; main()"


def _reads(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        query = select(func.count()).where(ExchangeLogEntry.operation == "person.get")
        return int(s.execute(query).scalar_one())


def _start(settings: Settings, port: int, *options: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GRIDHUB_DATABASE_URL": settings.database_url,
        "GRIDHUB_VAR_DIR": str(settings.var_dir),
        "GRIDHUB_KEY_PASSPHRASE": settings.key_passphrase.get_secret_value(),
        "GRIDHUB_ENVIRONMENT": "development",
    }
    command = [sys.executable, "-c", CLI, "serve", "grpc", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--workers", "2", "--threads", "2", *options],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def _group(settings: Settings, port: int, *options: str) -> Iterator[tuple[Any, str]]:
    """A started group and the line it prints once every worker has bound its ports;
    killed on the way out if a test left it running."""
    parent = _start(settings, port, *options)
    try:
        assert parent.stderr is not None
        yield parent, parent.stderr.readline()
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def _servers(parent: subprocess.Popen[str]) -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process(parent.pid).children()
        if any("multiprocessing" in part for part in p.cmdline())
        and "resource_tracker" not in " ".join(p.cmdline())
    ]


def _get(channel: grpc.Channel, seeded: Seeded, tokens: Tokens) -> None:
    stub = person_pb2_grpc.PersonServiceStub(channel)
    answer = stub.GetPerson(
        person_pb2.GetPersonRequest(uid=seeded.p1), metadata=grpc_auth(tokens.w1), timeout=30
    )
    assert answer.uid == seeded.p1
    assert answer.masked


def _subscribe(channel: grpc.Channel, tokens: Tokens) -> Any:
    """An event subscription, open once its first heartbeat arrives."""
    stream = event_pb2_grpc.EventServiceStub(channel).SubscribeEvents(
        event_pb2.SubscribeEventsRequest(heartbeat_seconds=1),
        metadata=grpc_auth(tokens.w1),
        timeout=30,
    )
    assert not next(stream).HasField("event")
    return stream


def _stop(parent: subprocess.Popen[str], servers: list[psutil.Process]) -> None:
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=60) == 0
    assert all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in servers)


def _ports(process: psutil.Process, status: str) -> set[int]:
    return {c.laddr.port for c in process.net_connections(kind="tcp") if c.status == status}


def test_two_workers_share_the_port_and_stop_cleanly(
    settings: Settings,
    seeded: Seeded,
    tokens: Tokens,  # its hub made the key ring the servers read
    sessions: sessionmaker[Session],
) -> None:
    port = free_port()
    with _group(settings, port) as (parent, line):
        assert f"listening on 127.0.0.1:{port}, 2 process(es)" in line, line
        servers = _servers(parent)
        assert len(servers) == 2
        assert [_ports(p, psutil.CONN_LISTEN) for p in servers] == [{port}, {port}]
        calls = 12
        for _ in range(calls):  # a channel per call: new connections, spread by the kernel
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                _get(channel, seeded, tokens)
        _stop(parent, servers)
        assert _reads(sessions) == calls  # each worker flushed its read log on the way out


def test_each_worker_also_serves_on_a_port_of_its_own(
    settings: Settings,
    seeded: Seeded,
    tokens: Tokens,  # its hub made the key ring the servers read
    sessions: sessionmaker[Session],
) -> None:
    """``--worker-ports BASE``: worker n listens on BASE+n too, so a client balancing calls
    itself (round_robin over both addresses) reaches both workers over one channel."""
    port, base = free_port(), free_ports(2)
    with _group(settings, port, "--worker-ports", str(base), "--streams", "1") as (parent, line):
        assert f"2 process(es); own ports {base}-{base + 1}" in line, line
        servers = _servers(parent)
        own = sorted(_ports(p, psutil.CONN_LISTEN) - {port} for p in servers)
        assert own == [{base}, {base + 1}]  # one own port each, besides the shared one
        target = f"ipv4:127.0.0.1:{base},127.0.0.1:{base + 1}"
        options = [("grpc.lb_policy_name", "round_robin")]
        with grpc.insecure_channel(target, options=options) as channel:
            for _ in range(12):
                _get(channel, seeded, tokens)
            served = [_ports(p, psutil.CONN_ESTABLISHED) for p in servers]
        assert sorted(served) == [{base}, {base + 1}]  # one channel, both workers
        # --streams 1: one open stream per process; the next one there is refused
        with (
            grpc.insecure_channel(f"127.0.0.1:{base}") as first,
            grpc.insecure_channel(f"127.0.0.1:{base + 1}") as second,
        ):
            held = [_subscribe(first, tokens), _subscribe(second, tokens)]
            with pytest.raises(grpc.RpcError) as refused:
                _subscribe(first, tokens)
            assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            for stream in held:
                stream.cancel()
        _stop(parent, servers)
        assert _reads(sessions) == 12


def test_workers_need_a_fixed_port() -> None:
    with pytest.raises(ValueError, match="fixed port"):
        serve(ServeSpec("127.0.0.1:0", workers=2), lambda: None, print)  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize(
    ("address", "workers", "base"),
    [("127.0.0.1:5000", 2, 4999), ("127.0.0.1:5000", 2, 5000), ("127.0.0.1:5000", 2, 65535)],
)
def test_own_ports_that_cannot_work_are_refused(address: str, workers: int, base: int) -> None:
    spec = ServeSpec(address, workers=workers, worker_port_base=base)
    with pytest.raises(ValueError, match="own ports"):
        spec.check()


def test_the_cli_refuses_own_ports_over_the_shared_one(settings: Settings) -> None:
    parent = _start(settings, 5000, "--worker-ports", "4999")
    assert parent.wait(timeout=60) == 2
    assert parent.stderr is not None
    assert "own ports must be" in parent.stderr.read()
