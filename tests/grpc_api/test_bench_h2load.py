"""``bench.api``'s gRPC load from h2load: it really calls GetPerson, and the read log is the
only check that a call succeeded (gRPC refusals are HTTP 200 with a status trailer)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from api import Hub
from bench.api.grpc_load import Target, h2load_run
from canonical_model import ExchangeLogEntry
from grpc_api import RunningServer
from tests.api.district import Seeded, Tokens

# h2load comes with `make setup` (nghttp2-client): missing, these tests fail, not skip.


def _ok_reads(hub: Hub) -> int:
    hub.flush_reads()
    with hub.sessions() as s:
        query = select(func.count()).where(
            ExchangeLogEntry.operation == "person.get", ExchangeLogEntry.result == "ok"
        )
        return int(s.scalar(query) or 0)


def test_h2load_calls_are_logged_reads_one_each(
    server: RunningServer, hub: Hub, tokens: Tokens, seeded: Seeded, tmp_path: Path
) -> None:
    work = [Target(seeded.p1, tokens.w1), Target(seeded.p2, tokens.w1)]
    before = _ok_reads(hub)
    run = h2load_run([server.port], work, 40, 4, tmp_path / "run")
    assert run["requests"] == 40
    assert run["rps"] > 0
    assert run["client_cpu_seconds"] >= 0
    assert _ok_reads(hub) - before == 40


def test_refused_calls_pass_h2load_but_not_the_read_log(
    server: RunningServer, hub: Hub, tokens: Tokens, seeded: Seeded, tmp_path: Path
) -> None:
    """Why ``bench.api`` checks the log: another grid's resident is PERMISSION_DENIED, yet
    h2load counts the answer as a success."""
    before = _ok_reads(hub)
    run = h2load_run([server.port], [Target(seeded.p3, tokens.w1)], 10, 2, tmp_path / "run")
    assert run["requests"] == 10
    assert _ok_reads(hub) - before == 0
