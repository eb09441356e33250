"""Autocommit connections kept between the REST API's plain reads, per engine.

Why: a person read or a search on PostgreSQL is one statement (two for an ID or phone
search) that writes nothing, and its log entry is queued, not written in the request's
transaction. Taking its connection through the ORM session cost about as much CPU as the
read itself: the session's transaction, a pool checkout and check-in with its reset, and
switching the connection to autocommit and back (SQLAlchemy's isolation-level bookkeeping)
on every request. Here such reads run on a connection already in autocommit, held between
requests (as ``grpc_api.person_read`` does for ``GetPerson``).

At most ``keep`` connections wait idle (half the pool, leaving the rest to requests that
write); a busier moment checks out more and returns the surplus to the pool. A connection
that failed is closed rather than kept, and when the failure invalidated it (the server was
restarted: SQLAlchemy then replaced the whole pool) its idle siblings are dropped too, being
as dead. Idle connections older than the pool's recycle age are closed instead of reused,
as the pool itself would.

**How many at once.** ``active`` bounds the reads running at once (the rest wait their turn
here, before taking a connection). PostgreSQL does more work per statement the more backends
run at once on few cores — switching between them and refilling their caches: measured on
2 cores with the ``GetPerson`` statement in tight loops, 0.135–0.145 ms of server CPU per
statement with 2–4 connections, 0.16 with 8, 0.21 with 16 and 0.34 with 32. Without a bound, a
server with 16 calls in flight per process ran them all at once, and the database spent
about as much CPU per read as the gRPC server did.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

_AUTOCOMMIT = "AUTOCOMMIT"


class HeldConnections:
    """The idle autocommit connections of one engine."""

    def __init__(
        self, engine: Engine, *, keep: int | None = None, active: int | None = None
    ) -> None:
        self.engine = engine
        self.active = active
        self._gate = threading.BoundedSemaphore(active) if active is not None else None
        size = getattr(engine.pool, "size", None)
        pool_size = size() if callable(size) else 2
        self.keep = max(1, pool_size // 2) if keep is None else keep
        recycle = getattr(engine.pool, "_recycle", -1)
        self.max_age = float(recycle) if isinstance(recycle, int | float) and recycle > 0 else None
        self._idle: list[tuple[Connection, float]] = []
        self._lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """An autocommit connection for one read; kept afterwards unless the read failed.
        Waits while ``active`` reads are running."""
        gate = self._gate
        if gate is not None:
            gate.acquire()
        try:
            conn, since = self._checkout()
            try:
                yield conn
            except BaseException:
                self._discard(conn)
                raise
            self._checkin(conn, since)
        finally:
            if gate is not None:
                gate.release()

    def _checkout(self) -> tuple[Connection, float]:
        now = time.monotonic()
        stale: list[Connection] = []
        found: tuple[Connection, float] | None = None
        with self._lock:
            while self._idle:
                conn, since = self._idle.pop()
                if self.max_age is None or now - since < self.max_age:
                    found = (conn, since)
                    break
                stale.append(conn)
        for conn in stale:
            conn.close()
        if found is not None:
            return found
        conn = self.engine.connect().execution_options(isolation_level=_AUTOCOMMIT)
        return conn, now

    def _checkin(self, conn: Connection, since: float) -> None:
        if not conn.invalidated:
            with self._lock:
                if len(self._idle) < self.keep:
                    self._idle.append((conn, since))
                    return
        conn.close()

    def _discard(self, conn: Connection) -> None:
        invalidated = conn.invalidated
        conn.close()
        if invalidated:
            self.close()

    def close(self) -> None:
        """Return every idle connection to the pool."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()


_HELD: weakref.WeakKeyDictionary[Engine, HeldConnections] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


def held(engine: Engine, *, active: int | None = None) -> HeldConnections:
    """The held connections of ``engine``, made on first use (``active``: see the class;
    only the first call's counts, which the hub makes as it creates the engine)."""
    found = _HELD.get(engine)
    if found is None:
        with _REGISTRY_LOCK:
            found = _HELD.get(engine)
            if found is None:
                found = _HELD[engine] = HeldConnections(engine, active=active)
    return found


def release(engine: Engine) -> None:
    """Hand ``engine``'s idle connections back (server shutdown, before disposing it)."""
    found = _HELD.pop(engine, None)
    if found is not None:
        found.close()


__all__ = ["HeldConnections", "held", "release"]
