"""PostgreSQL restarted under the hub: in the middle of a sync's checkpoint, and under API load.

The machine's shared PostgreSQL is never touched: these tests run on a private cluster
(``private_pg``) that they restart with ``pg_ctl restart -m fast`` — open sessions are cut
and their transactions roll back, as in a real restart.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from canonical_model import Direction, ExchangeLogEntry
from canonical_model.store import make_engine, session_factory
from identity.keys import KeyRing
from tests.api.district import Tokens, bearer, seed
from tests.device_bridge.harness import free_port
from tests.reliability.accounting import account, tally
from tests.reliability.harness import (
    GRIDHUB,
    REPO,
    RUN_TIMEOUT_S,
    CheckpointGate,
    hub_env,
    run_sync,
    start_sync,
    sync_state,
    wait_for,
)
from tests.reliability.sources import hukou_case
from tests.support.private_postgres import PrivatePostgres

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


def test_postgres_restarted_mid_checkpoint_loses_and_duplicates_nothing(
    private_pg: PrivatePostgres, private_store: str, tmp_path: Path
) -> None:
    engine = make_engine(private_store)
    sessions = session_factory(engine)
    log = tmp_path / "hub.log"
    try:
        with hukou_case() as case:
            env = hub_env(private_store, tmp_path / "var", checkpoint_every=25, hukou=case.settings)
            gate = CheckpointGate(private_store, "hukou", "persons")
            gate.close_gate(sessions)
            hub = start_sync("hukou", env, log)
            try:
                gate.let_one_through(hub)  # one checkpoint stored, the next one in flight
                private_pg.restart()  # cuts the hub's open transaction, and the gate's
                gate.abandon()
                code = hub.wait(RUN_TIMEOUT_S)
            finally:
                if hub.poll() is None:
                    hub.kill()
                gate.abandon()
            output = log.read_text(errors="replace")
            print(output[-1500:])
            # The cut checkpoint fails the run (the CLI reports it with a traceback today: see
            # the reliability report) and rolls back whole: the cursor is the one before it.
            assert code != 0
            assert "AdminShutdown" in output or "OperationalError" in output
            state = sync_state(sessions, "hukou", "persons")
            assert state is not None
            assert state.records_seen == 25

            done = run_sync("hukou", env)
            assert done.returncode == 0, done.stderr[-2000:]
            account(sessions, "hukou", case.expected(), label="hukou pg restart").assert_balanced()
    finally:
        engine.dispose()


Read = tuple[int, bytes, str]  # status, body, X-Request-ID (the exchange log's correlation id)


def _get(url: str, token: str) -> Read:
    """One read; a refused or dropped connection is status 0 (the server did not answer)."""
    request = urllib.request.Request(url, headers=bearer(token))
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read(), reply.headers.get("X-Request-ID", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("X-Request-ID", "")
    except OSError:
        return 0, b"", ""


def test_postgres_restarted_under_api_load_recovers_and_logs_every_read(
    private_pg: PrivatePostgres, private_store: str, tmp_path: Path
) -> None:
    """Grid workers keep reading while the database restarts: reads during the restart fail
    cleanly (5xx, never a dead server), reads after it succeed again with the same record,
    and every read that was answered has exactly one exchange-log entry."""
    engine = make_engine(private_store)
    sessions = session_factory(engine)
    seeded = seed(sessions)
    var = tmp_path / "var"
    ring = KeyRing(var / "keys", algorithm="ES256", passphrase="test-only-passphrase")
    token = Tokens(ring).w1  # the key is created here; the server loads the same ring
    port = free_port()
    env = hub_env(private_store, var, checkpoint_every=25)
    log = tmp_path / "api.log"
    with log.open("ab") as out:
        server = subprocess.Popen(
            [str(GRIDHUB), "serve", "api", "--port", str(port), "--log-level", "warning"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=out,
        )
    url = f"http://127.0.0.1:{port}/api/v1/persons/{seeded.p1}"
    results: list[Read] = []
    failed_at = [0.0]  # monotonic time of the latest read that was not a 200
    try:

        def read() -> Read:
            results.append(_get(url, token))
            if results[-1][0] != 200:
                failed_at[0] = time.monotonic()
            return results[-1]

        wait_for(lambda: read()[0] == 200, 180, "the API to answer")  # a cold start under load
        before = read()[1]
        stop = threading.Event()

        def load() -> None:
            while not stop.is_set():
                read()

        worker = threading.Thread(target=load, daemon=True)
        worker.start()
        wait_for(lambda: sum(r[0] == 200 for r in results) > 20, 60, "some load")
        private_pg.restart(down_s=0.5)
        # Every server process recovers on its own (its pool, its read-log flusher's next
        # retry, 0.5 s apart): the service is back when reads, spread over the processes,
        # have all succeeded for 2 s; from then on every read must.
        wait_for(
            lambda: results[-1][0] == 200 and time.monotonic() - failed_at[0] > 2.0,
            60,
            "reads to succeed again",
        )
        stop.set()
        worker.join(30)
        after = [read() for _ in range(20)]
        assert server.poll() is None, "the API server died with its database"
    finally:
        server.send_signal(signal.SIGTERM)  # a clean shutdown commits queued read entries
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        print(log.read_text(errors="replace")[-1500:])
    first_answer = next(i for i, r in enumerate(results) if r[0] != 0)
    codes = Counter(r[0] for r in results[first_answer:])  # before: the server was starting
    print(f"API reads around a PostgreSQL restart: {dict(codes)}")
    assert set(codes) <= {200, 500, 503}, "a read must be answered, if only with a 5xx"
    assert all(r[0] == 200 for r in after)
    assert {r[1] for r in after} == {before}
    # Every answered read has exactly one exchange-log entry.
    served = [rid for code, _, rid in results if code == 200]
    with sessions() as s:
        logged = s.scalars(
            select(ExchangeLogEntry.correlation_id).where(
                ExchangeLogEntry.direction == Direction.READ, ExchangeLogEntry.actor_subject == "W1"
            )
        ).all()
    result = tally("API reads → exchange log", served, logged)
    assert result.lost == 0, result.line()
    assert result.duplicated == 0, result.line()
    assert result.expected == result.stored, result.line()
    # Entries beyond the 200s are over-logging, never a read unlogged: a read queued for the
    # log just before its transaction failed on the restart is logged although the client got
    # a 503 (seen now and then; noted in the reliability report, not asserted here).
    refused = {rid for code, _, rid in results if rid and code != 200}
    extra = set(logged) - set(served)
    print(
        f"read entries without a 200: {len(extra)}, of them refused reads: {len(extra & refused)}"
    )
    engine.dispose()
