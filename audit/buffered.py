"""Group commit for read-log entries: the request queues its entry, a flusher chains batches.

Why: appending inline costs every read three round trips (the chain lock, the head, the
insert) and holds the chain's one lock until the read's commit, so concurrent reads queue
behind each other. Here a read only checks its entry and queues it (microseconds); one
background thread takes the lock once per batch, chains the batch with one ``executemany``
and commits it durably (one WAL flush per batch, not per read).

What an auditor gets, and what a crash can cost (the documented durability):

* **every read is logged**: the entry is checked and queued *before* the data is returned;
  a read whose entry cannot be queued (log failing, backlog full) is refused
  (:class:`LogUnavailable`);
* **the chain is the same chain**: entries go through :func:`audit.log.append_prepared`, so
  they hash, link, sign and verify exactly like inline ones; ``at`` is the time of chaining,
  at most ``max_delay`` (plus one flush) after the read, and follows ``seq``;
* **clean shutdown loses nothing**: :meth:`close` (server shutdown, and ``atexit`` as a net)
  flushes the queue and waits for the commit;
* **a crash of the serving process** (SIGKILL, OOM, power loss) can lose the entries still
  queued: at most ``max_delay`` seconds of reads, and never more than ``max_pending``
  entries — the data of those reads had already been sent. A database crash loses nothing
  flushed (batches commit with ``synchronous_commit`` on);
* **a flush whose commit outcome is unknown** is retried, which can log those reads twice —
  the safe side: an auditor may see a read twice, never miss one;
* **batches commit with ``synchronous_commit`` on**, deliberately: the request never waits
  for that commit (only the flusher does), so turning it off would save no request latency
  and almost no CPU, and would add a window (~3 × ``wal_writer_delay``) in which a database
  crash loses reads the log had already reported written;
* **``result`` says what became of the read**: ``ok`` when the data was handed out;
  ``not_sent`` when the request failed after its entry was queued and before any response
  was built (:meth:`BufferedAppender.amend_last`: corrected in the queue, or a second entry
  with the same correlation id if it was already chained). A response lost in transport
  after it was handed over stays ``ok``: it may have left.

Deployments that must have each read's entry durable before its data leaves use the inline
appender instead (``gridhub serve --durable-read-logs``) and pay its cost per read.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Final

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from audit.canonical import FIELDS, GENESIS
from audit.log import (
    HEAD_SQL,
    LOCK_KEY,
    Head,
    Prepared,
    append_prepared,
    chain_rows,
    prepare,
)

log = logging.getLogger("gridhub.audit")


class LogUnavailable(RuntimeError):
    """The read log cannot take the entry now; the read must be refused, not served."""


class BufferedAppender:
    """Queues checked entries; a daemon thread chains and commits them in batches.

    ``sessions`` makes the flusher's sessions; each batch is one transaction of its own
    (``begin`` runs on it first, e.g. to make the commit durable on PostgreSQL).
    """

    def __init__(
        self,
        sessions: Callable[[], Session],
        *,
        max_delay: float = 0.2,
        max_batch: int = 500,
        max_pending: int = 20_000,
        block: float = 2.0,
        retry: float = 0.5,
        begin: Callable[[Session], None] | None = None,
    ) -> None:
        if max_delay < 0 or max_batch < 1 or max_pending < max_batch:
            raise ValueError("need max_delay >= 0 and 1 <= max_batch <= max_pending")
        self._sessions = sessions
        self.max_delay = max_delay
        self.max_batch = max_batch
        self.max_pending = max_pending
        self._block = block
        self._retry = retry
        self._begin = begin
        self._cond = threading.Condition()
        self._queue: list[Prepared] = []
        self._oldest = 0.0  # monotonic time the oldest queued entry arrived
        self._submitted = 0  # entries ever queued
        self._written = 0  # entries ever committed
        self._wanted = 0  # a flush() waits for _written to reach this
        self._error: BaseException | None = None
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._taken = 0  # queue-head entries the flusher is writing: no longer amendable
        self._local = threading.local()
        self._raw: Any = None  # the flusher's PostgreSQL connection, held between batches
        self._raw_pid = 0

    # --- the request side -----------------------------------------------------------------

    def submit(self, entry: Mapping[str, Any]) -> None:
        """Check ``entry`` and queue it; raises if it is invalid or cannot be taken now."""
        prepared = prepare(entry)  # invalid entries fail here, in the caller's hands
        self._enqueue(prepared)
        self._local.last = prepared

    def amend_last(self, correlation_id: str, result: str) -> bool:
        """Correct the ``result`` of this thread's last entry if it is ``correlation_id``'s.

        For a read whose response then failed before it was sent (``not_sent``): the entry
        was queued as ``ok`` when the data was read. Still queued, it is replaced before it is
        chained, so the log holds one honest entry; already chained (or being written), the
        log is append-only, so a second entry with the same correlation id and the new
        result follows it. Returns False if this thread's last entry is another request's.
        """
        last: Prepared | None = getattr(self._local, "last", None)
        if last is None or last[0]["correlation_id"] != correlation_id:
            return False
        self._local.last = None
        fields, at, _ = last
        amended = prepare({**fields, "result": result, **({"at": at} if at else {})})
        with self._cond:
            for index in range(len(self._queue) - 1, self._taken - 1, -1):
                if self._queue[index] is last:
                    self._queue[index] = amended
                    return True
        self._enqueue(amended)
        return True

    def _enqueue(self, prepared: Prepared) -> None:
        with self._cond:
            if self._closed:
                raise LogUnavailable("the read log is closed")
            if self._error is not None:
                raise LogUnavailable("the read log cannot write at the moment")
            if len(self._queue) >= self.max_pending:
                self._make_room()
            if not self._queue:
                self._oldest = time.monotonic()
            self._queue.append(prepared)
            self._submitted += 1
            self._ensure_thread()
            if len(self._queue) >= self.max_batch or self.max_delay == 0:
                self._cond.notify_all()
            elif len(self._queue) == 1:
                self._cond.notify_all()  # the flusher starts its max_delay clock

    def _make_room(self) -> None:
        """Back-pressure: wait (bounded) for the flusher, then refuse rather than grow."""
        deadline = time.monotonic() + self._block
        self._wanted = max(self._wanted, self._submitted)
        self._cond.notify_all()
        while len(self._queue) >= self.max_pending and self._error is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._cond.wait(remaining):
                break
        if len(self._queue) >= self.max_pending or self._error is not None:
            raise LogUnavailable("the read log is behind; try again shortly")

    # --- flushing ---------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def flush(self, timeout: float = 30.0, *, through_errors: bool = False) -> None:
        """Return once every entry queued before the call is committed.

        Raises :class:`LogUnavailable` if the flusher is failing or ``timeout`` passes first;
        ``through_errors`` waits out a failing flusher's retries until ``timeout`` instead
        (closing: the queued entries are of reads already answered, and a database that is
        restarting is back in a moment).
        """
        with self._cond:
            target = self._submitted
            if self._written >= target:
                return
            self._wanted = max(self._wanted, target)
            self._ensure_thread()
            self._cond.notify_all()
            deadline = time.monotonic() + timeout
            while self._written < target:
                if self._error is not None and not through_errors:
                    raise LogUnavailable("the read log could not be written") from self._error
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if self._error is not None:
                        raise LogUnavailable("the read log could not be written") from self._error
                    raise LogUnavailable("the read log did not flush in time")
                self._cond.wait(remaining)

    def close(self, timeout: float = 30.0) -> None:
        """Flush what is queued and stop the flusher; later submits are refused."""
        with self._cond:
            if self._closed:
                return
        flushed = False
        try:
            self.flush(timeout, through_errors=True)
            flushed = True
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
                thread = self._thread
            if flushed and thread is not None and thread is not threading.current_thread():
                thread.join(timeout)

    def _ensure_thread(self) -> None:
        """Start the flusher on first use (and again in a forked child, which has none)."""
        pid = os.getpid()
        if self._thread is not None and self._pid == pid and self._thread.is_alive():
            return
        self._pid = pid
        self._thread = threading.Thread(target=self._run, name="audit-read-log", daemon=True)
        self._thread.start()
        _register_atexit(self)

    def _next_batch(self) -> list[Prepared] | None:
        """Under the lock: wait for a batch worth writing; None when closed and drained."""
        while True:
            if self._error is not None:
                return list(self._queue[: self.max_batch]) if self._queue else None
            if self._queue:
                urgent = (
                    len(self._queue) >= self.max_batch
                    or self._wanted > self._written
                    or self._closed
                )
                wait = self._oldest + self.max_delay - time.monotonic()
                if urgent or wait <= 0:
                    return list(self._queue[: self.max_batch])
                self._cond.wait(wait)
            elif self._closed:
                return None
            else:
                self._cond.wait()

    def _run(self) -> None:
        while True:
            with self._cond:
                batch = self._next_batch()
                self._taken = 0 if batch is None else len(batch)
            if batch is None:
                self._release()
                return
            try:
                self._write(batch)
            except Exception as exc:  # keep the entries; refuse new reads until it writes
                log.error("read log flush failed (%s); retrying", type(exc).__name__)
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                time.sleep(self._retry)
                continue
            with self._cond:
                del self._queue[: len(batch)]
                self._taken = 0
                self._written += len(batch)
                if self._queue:
                    self._oldest = time.monotonic()
                self._error = None
                self._cond.notify_all()

    def _write(self, batch: list[Prepared]) -> None:
        with self._sessions() as session:
            bind = session.get_bind()
            if isinstance(bind, Engine) and bind.dialect.driver == "psycopg":
                held = self._raw is not None
                try:
                    self._write_postgresql(bind, batch)
                except Exception as exc:
                    if not held or not _is_disconnect(exc):
                        raise
                    # the held connection died while idle (a server restart): once more
                    # on a fresh one before the log reports itself unavailable
                    self._write_postgresql(bind, batch)
                return
            with session.begin():
                if self._begin is not None:
                    self._begin(session)
                append_prepared(session, batch)

    def _write_postgresql(self, engine: Engine, batch: list[Prepared]) -> None:
        """One batch in three round trips on the flusher's own connection (no Session).

        1. pipelined: BEGIN, ``synchronous_commit`` on (the batch is durable whatever the
           pool's default), the chain lock, the head — a statement of its own after the lock,
           so under READ COMMITTED it sees every appender that committed before;
        2. the rows, chained by the same :func:`audit.log.chain_rows` as every other append,
           in one COPY (per row a C-formatted line instead of a Bind/Execute);
        3. COMMIT.

        This replaced a Session per batch, its events, a pool checkout with its pre-ping, and
        seven sequential round trips with one INSERT per row. The connection is held by the
        flusher thread between batches (returned on close) and dropped on any error.
        """
        raw = self._raw
        if raw is None or self._raw_pid != os.getpid():
            raw = self._raw = engine.raw_connection()
            self._raw_pid = os.getpid()
        pg: Any = raw.driver_connection
        try:
            with pg.pipeline():
                pg.execute("SET LOCAL synchronous_commit TO ON")
                pg.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                found = pg.execute(HEAD_SQL).fetchone()
            prev = Head(0, GENESIS) if found is None else Head(int(found[0]), str(found[1]))
            rows, _ = chain_rows(prev, batch, sqlite=False)
            with pg.cursor() as cursor, cursor.copy(_COPY) as copy:
                for row in rows:
                    copy.write_row(row)
            pg.commit()
        except BaseException as exc:
            self._raw = None
            if isinstance(exc, Exception) and _is_disconnect(exc):
                # The server went away (a restart): this connection's siblings in the pool
                # died with it and, unpinged, would each fail one retry in turn while every
                # read is refused. Start the pool afresh, as the API's read path does.
                raw.invalidate()
                engine.dispose(close=False)
                raise
            try:
                pg.rollback()
                raw.close()
            except Exception:
                raw.invalidate()  # the connection is gone: the pool must not hand it out
            raise

    def _release(self) -> None:
        """Return the flusher's connection to the pool (it stopped, or is about to)."""
        raw, self._raw = self._raw, None
        if raw is not None and self._raw_pid == os.getpid():
            try:
                raw.close()
            except Exception:  # pragma: no cover - closing a broken connection
                log.warning("read log connection did not close cleanly")


def _is_disconnect(exc: BaseException) -> bool:
    import psycopg

    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


_COPY: Final = f"COPY exchange_log ({', '.join((*FIELDS, 'entry_hash'))}) FROM STDIN"


_open: weakref.WeakSet[BufferedAppender] = weakref.WeakSet()


def _register_atexit(appender: BufferedAppender) -> None:
    _open.add(appender)


@atexit.register
def _flush_all_at_exit() -> None:
    """The safety net for a clean exit that forgot :meth:`BufferedAppender.close`."""
    for appender in list(_open):
        try:
            appender.close(timeout=10.0)
        except Exception as exc:  # pragma: no cover - nothing left to report it to
            log.error("read log not flushed at exit (%s)", type(exc).__name__)


__all__ = ["BufferedAppender", "LogUnavailable"]
