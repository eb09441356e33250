"""The hub as a real process, and a way to stop it at an exact checkpoint.

``gridhub sync <source>`` runs as a child process configured only through ``GRIDHUB_*``
variables, as district IT runs it. ``CheckpointGate`` makes a kill land deterministically in
the middle of a sync without touching the hub's code: every checkpoint of the engine locks
its stream's ``sync_state`` row (``SELECT … FOR UPDATE``) inside the checkpoint's
transaction, so a test that holds that row lock in PostgreSQL holds the hub at the commit of
its next checkpoint — with that checkpoint's records received, mapped and written but not
committed. Two test connections passing the lock between them let exactly one checkpoint
through.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psutil
import psycopg
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import SyncState
from canonical_model.store import transaction

REPO = Path(__file__).resolve().parents[2]
GRIDHUB = Path(sys.executable).with_name("gridhub")
RUN_TIMEOUT_S = 90


def hub_env(
    store_url: str, var_dir: Path, *, checkpoint_every: int, **sources: Mapping[str, Any]
) -> dict[str, str]:
    """The environment of a hub process: its store, its var folder and each source section
    (``hukou={"wsdl_url": …}`` → ``GRIDHUB_HUKOU__WSDL_URL``)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GRIDHUB_") and not k.startswith("PYTEST")
    }
    env.update(
        {
            "GRIDHUB_ENVIRONMENT": "test",
            "GRIDHUB_KEY_PASSPHRASE": "test-only-passphrase",
            "GRIDHUB_DATABASE_URL": store_url,
            "GRIDHUB_VAR_DIR": str(var_dir),
            "GRIDHUB_SYNC_CHECKPOINT_EVERY": str(checkpoint_every),
            "GRIDHUB_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    for source, fields in sources.items():
        for name, value in fields.items():
            env[f"GRIDHUB_{source.upper()}__{name.upper()}"] = str(value)
    return env


def start_sync(source: str, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``gridhub sync <source>`` in the background; its output goes to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(GRIDHUB), "sync", source], cwd=REPO, env=dict(env), stdout=out, stderr=out
        )


def run_sync(source: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``gridhub sync <source>`` to the end; the output is printed for the test's log."""
    done = subprocess.run(
        [str(GRIDHUB), "sync", source],
        cwd=REPO,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    print(f"$ gridhub sync {source} → exit {done.returncode}\n{done.stdout}{done.stderr}")
    return done


def kill_9(proc: subprocess.Popen[bytes]) -> None:
    """kill -9 the hub; worker processes it started must notice and leave on their own."""
    children = psutil.Process(proc.pid).children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    _, alive = psutil.wait_procs(children, timeout=10)
    for p in alive:  # clean up before failing: an orphan must not outlive the test
        p.kill()
    assert alive == [], f"worker processes outlived the killed hub: {alive}"


def sync_state(sessions: sessionmaker[Session], source: str, stream: str) -> SyncState | None:
    with sessions() as s:
        return s.scalars(
            select(SyncState).where(SyncState.source == source, SyncState.stream == stream)
        ).one_or_none()


def wait_for(
    predicate: Callable[[], Any], timeout: float, what: str, *, every: float = 0.05
) -> Any:
    """Until ``predicate`` is true. Polled every ``every`` seconds, not faster: a probe is
    CPU taken from the process being waited for (on two cores, a hub starting up)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class CheckpointGate:
    """Hold one stream's checkpoints in PostgreSQL: closed, let one through, closed again."""

    def __init__(self, store_url: str, source: str, stream: str) -> None:
        url = make_url(store_url)
        self.dsn = (
            f"host={url.host} port={url.port or 5432} user={url.username} dbname={url.database}"
        )
        self.source, self.stream = source, stream
        self._held: psycopg.Connection[Any] | None = None
        self._next: psycopg.Connection[Any] | None = None
        self._probe: psycopg.Connection[Any] | None = None  # one session for every poll

    def close_gate(self, sessions: sessionmaker[Session]) -> None:
        """Before the hub starts: the stream's state row as the engine would first create
        it (empty cursor, no batch), locked by this test."""
        with transaction(sessions) as s:
            if s.get(SyncState, (self.source, self.stream)) is None:
                s.add(SyncState(source=self.source, stream=self.stream, cursor={}))
        self._held = self._lock()

    def _lock(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.dsn)
        conn.execute(
            "SELECT 1 FROM sync_state WHERE source = %s AND stream = %s FOR UPDATE",
            (self.source, self.stream),
        )
        return conn

    def _waiting(self, exclude: set[int]) -> list[int]:
        """Backends of this database waiting on a lock, but ours. Polled often: through one
        kept session (a fresh connection per poll forks a backend each time, and on two
        cores that is CPU taken from the hub being waited for); a session cut by a server
        restart is opened again."""
        query = (
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        for attempt in (1, 2):
            if self._probe is None or self._probe.closed:
                self._probe = psycopg.connect(self.dsn, autocommit=True)
            try:
                rows = self._probe.execute(query).fetchall()
                break
            except psycopg.OperationalError:
                self._close_probe()
                if attempt == 2:
                    raise
        return [pid for (pid,) in rows if pid not in exclude]

    def _close_probe(self) -> None:
        if self._probe is not None:
            with contextlib.suppress(psycopg.Error):
                self._probe.close()
        self._probe = None

    def _ours(self) -> set[int]:
        return {
            c.info.backend_pid
            for c in (self._held, self._next, self._probe)
            if c is not None and not c.closed
        }

    def wait_hub_blocked(self, hub: subprocess.Popen[bytes], timeout: float = 120) -> None:
        """Until the hub waits at a checkpoint commit (failing if it ended instead). The
        first wait includes the hub's start-up, which takes a minute on a loaded machine."""

        def blocked() -> bool:
            assert hub.poll() is None, f"the hub ended (exit {hub.returncode}) before the gate"
            return bool(self._waiting(self._ours()))

        wait_for(blocked, timeout, "the hub to reach a checkpoint commit")

    def let_one_through(self, hub: subprocess.Popen[bytes]) -> None:
        """The waiting checkpoint commits; the hub's next one waits again."""
        assert self._held is not None, "close the gate first"
        self.wait_hub_blocked(hub)
        taken: list[psycopg.Connection[Any]] = []
        worker = threading.Thread(target=lambda: taken.append(self._lock()), daemon=True)
        worker.start()
        # The second lock queues behind the hub, so the hub gets the row first.
        wait_for(lambda: len(self._waiting(self._ours())) >= 2, 30, "the gate's queue")
        self._held.rollback()
        self._held.close()
        worker.join(60)
        assert taken, "the gate's second lock was never granted"
        self._held = taken[0]
        self.wait_hub_blocked(hub)

    def open_gate(self) -> None:
        """Let everything through, and end the server sessions of a hub that was killed."""
        ours = self._ours()
        if self._held is not None:
            self._held.rollback()
            self._held.close()
            self._held = None
        self._close_probe()
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND state <> 'idle' AND pid <> ALL(%s)",
                (list(ours),),
            )

    def abandon(self) -> None:
        """Forget the gate's connections after the server itself went away."""
        for conn in (self._held, self._next):
            if conn is not None:
                with contextlib.suppress(psycopg.Error):
                    conn.close()
        self._held = self._next = None
        self._close_probe()

    def release(self) -> None:
        """Let the (living) hub go on: no session is ended."""
        if self._held is not None:
            self._held.rollback()
            self._held.close()
            self._held = None
        self._close_probe()
