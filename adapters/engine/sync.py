"""Running a sync: extract, map and encode each record, commit a checkpoint every N.

A checkpoint — new and changed source records, quarantined ones, the stream's cursor and
one exchange-log entry — is a single transaction, taken under a lock on the stream's state
row that also proves no other run moved the cursor meanwhile.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from adapters.contract import (
    Adapter,
    Extracted,
    Flush,
    Mapped,
    RecordRejected,
    SourceUnavailable,
    Stream,
    SyncReport,
)
from adapters.engine.encoding import (
    DEFAULT_MAX_RECORD_BYTES,
    Ready,
    oversized,
    prepare,
    raw_bytes,
)
from adapters.engine.heap import frozen_heap
from adapters.engine.quarantine import quarantine, release_quarantined
from adapters.engine.state import load_cursor, load_state, lock_state, rewrite_state, write_state
from adapters.engine.store import StreamWrites, upsert_records
from audit import append_many as audit_append_many
from canonical_model import Direction, utcnow

__all__ = [
    "SYNC_ACTOR",
    "Commit",
    "ConcurrentSyncError",
    "ProgressCallback",
    "load_cursor",
    "sync_adapter",
    "sync_stream",
]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[SyncReport], None]
SYNC_ACTOR = "gridhub-sync"
_NO_WAIT = "SET LOCAL synchronous_commit TO off"  # see _commit_checkpoint
_ANALYZE = text("ANALYZE source_record (source, stream, source_key, person_id, updated_at, id)")
#: The table's size in pages now, and when it was last analyzed (0: never).
_PAGES = text(
    "SELECT relpages, pg_relation_size(oid) / current_setting('block_size')::int "
    "FROM pg_class WHERE oid = 'source_record'::regclass"
)


@dataclass(frozen=True, slots=True)
class Commit(Flush):
    """A ``Flush`` that commits a checkpoint even with no record pending.

    A stream that writes its own rows in ``on_checkpoint`` (utility readings) needs a
    transaction at a point it chooses; a plain ``Flush`` commits only when a record is
    pending, which made such a stream hand over a throwaway record per chunk (hashed, and
    mapped through the person fields, whose pinyin dictionary alone costs a third of a CPU
    second to load). The checkpoint it commits may hold no record: its log entry then counts
    none. A subclass rather than a field of ``Flush`` so that the contract stays as it is.
    """


class ConcurrentSyncError(RuntimeError):
    """Another run moved this stream's cursor while we were syncing it."""


@dataclass(slots=True)
class _Checkpoint:
    """What has been extracted since the last commit."""

    ready: list[Ready] = field(default_factory=list)
    rejected: list[tuple[Extracted, RecordRejected]] = field(default_factory=list)
    digest: Any = field(default_factory=hashlib.sha256)  # of everything received, for the log
    received: int = 0

    @property
    def mapped(self) -> list[Mapped]:
        return [r[4] for r in self.ready]


@frozen_heap()
def sync_stream(
    adapter: Adapter,
    stream: Stream | str,
    sessions: sessionmaker[Session],
    *,
    checkpoint_every: int = 500,
    progress: ProgressCallback | None = None,
    actor: str = SYNC_ACTOR,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> SyncReport:
    """Sync one stream from its stored cursor to the end of what the source has now."""
    if isinstance(stream, str):
        stream = adapter.stream(stream)
    report = SyncReport(source=adapter.name, stream=stream.name, batch_id=uuid.uuid4().hex)
    cursor: Mapping[str, Any]
    cursor, last_batch = load_state(sessions, adapter.name, stream.name)
    stored_cursor = dict(cursor)
    pending = _Checkpoint()
    known = StreamWrites()
    flushed = True  # whether every checkpoint committed so far is on disk

    def commit(next_cursor: Mapping[str, Any], *, last: bool = False) -> None:
        nonlocal stored_cursor, pending, last_batch, flushed
        _commit_checkpoint(
            sessions,
            adapter.name,
            stream,
            report,
            pending,
            (stored_cursor, last_batch),
            next_cursor,
            actor,
            known,
            durable=last,
        )
        flushed = last
        last_batch = report.batch_id
        stored_cursor = dict(next_cursor)
        report.cursor = stored_cursor
        pending = _Checkpoint()
        if progress:
            progress(report)

    map_record = stream.map
    try:
        for item in stream.extract(cursor):
            if isinstance(item, Flush):
                if pending.received or isinstance(item, Commit):
                    commit(dict(item.cursor))
                cursor = item.cursor
                continue
            pending.received += 1
            raw = item.raw
            received = raw if isinstance(raw, bytes) else raw_bytes(raw)
            pending.digest.update(received)
            try:
                if len(received) > max_record_bytes:
                    raise oversized(len(received), max_record_bytes)
                # Encoded here, outside the checkpoint transaction that holds the stream's
                # lock, and where a value JSON cannot hold is a quarantine.
                pending.ready.append(prepare(map_record(item), raw, received))
            except RecordRejected as rejection:
                pending.rejected.append((item, rejection))
            except Exception as exc:  # a mapping bug must not stop the batch or lose the record
                pending.rejected.append(
                    (item, RecordRejected("mapping.error", f"mapper raised {type(exc).__name__}"))
                )
            # Each item carries its own cursor mapping; it is copied only when committed.
            cursor = item.cursor
            if pending.received >= checkpoint_every:
                commit(dict(cursor))
    except SourceUnavailable as exc:
        # Everything received before the failure is complete: store it, then report.
        if pending.received:
            commit(dict(cursor), last=True)
        report.error = str(exc)
        _after_sync(sessions, report, flushed=flushed)
        raise
    final = stream.final_cursor()
    if pending.received or (final is not None and dict(final) != stored_cursor):
        commit(dict(final) if final is not None else dict(cursor), last=True)
    _after_sync(sessions, report, flushed=flushed)
    return report


def sync_adapter(
    adapter: Adapter,
    sessions: sessionmaker[Session],
    *,
    streams: Iterable[str] | None = None,
    checkpoint_every: int = 500,
    progress: ProgressCallback | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> list[SyncReport]:
    """Sync every stream (or the named ones) of an adapter, closing it afterwards.

    One after the other; while one is being stored the next may start reading
    (``Stream.on_read_all`` → ``Stream.prefetch``), so a mapping worker is not left idle
    between them.
    """
    try:
        chosen = [adapter.stream(n) for n in streams] if streams else list(adapter.streams())
        reports = []
        for s, following in zip(chosen, [*chosen[1:], None], strict=True):
            if following is not None:
                s.on_read_all = partial(_prefetch, sessions, adapter.name, following)
            try:
                reports.append(
                    sync_stream(
                        adapter,
                        s,
                        sessions,
                        checkpoint_every=checkpoint_every,
                        progress=progress,
                        max_record_bytes=max_record_bytes,
                    )
                )
            finally:
                s.on_read_all = None
        return reports
    finally:
        adapter.close()


def _prefetch(sessions: sessionmaker[Session], source: str, stream: Stream) -> None:
    """Tell ``stream`` where it will start; only a hint, so a failure here is logged and
    left to the stream's own sync, which reads its cursor again and reports any error."""
    try:
        stream.prefetch(load_cursor(sessions, source, stream.name))
    except Exception as exc:
        log.warning("prefetch of %s/%s skipped (%s)", source, stream.name, type(exc).__name__)


def _commit_checkpoint(
    sessions: sessionmaker[Session],
    source: str,
    stream: Stream,
    report: SyncReport,
    pending: _Checkpoint,
    expected: tuple[Mapping[str, Any], str | None],
    next_cursor: Mapping[str, Any],
    actor: str,
    known: StreamWrites,
    *,
    durable: bool = True,
) -> None:
    """Store one checkpoint, unless another run has written this stream since we last did.

    Both the cursor and the batch that wrote it are compared: a stream whose cursor only
    moves at the end (a FHIR search) would otherwise not notice a second run.

    A checkpoint that is not the sync's last (``durable`` false) commits on PostgreSQL
    without waiting for its WAL to reach the disk (``synchronous_commit`` off for this
    transaction; PostgreSQL's WAL writer flushes it within ~0.6 s). A server crash in that
    window loses whole checkpoints — records, cursor and log entry together, never one
    without the others — and the next sync reads them from the source again: the guarantee
    the SQLite store gives every commit (WAL, ``synchronous=NORMAL``). The sync's last
    commit waits, and with it everything committed before. Measured on the 民政 load into
    PostgreSQL: each commit waited ~1–3 ms for the disk, 8 % of the sync.
    """
    now = utcnow()
    expected_cursor, expected_batch = expected
    with sessions() as session, session.begin():
        if not durable and session.get_bind().dialect.name == "postgresql":
            session.connection().exec_driver_sql(_NO_WAIT)
        cursor, last_batch = lock_state(session, source, stream.name)
        if cursor != dict(expected_cursor) or last_batch != expected_batch:
            raise ConcurrentSyncError(
                f"the cursor of {source}/{stream.name} moved during this sync; "
                "another run is syncing it — this run stops without storing its checkpoint"
            )
        if not known.checked:
            known.check(session.connection(), source, stream.name)
        inserted, updated, unchanged = upsert_records(
            session, source, stream.name, pending.ready, report.batch_id, now, known
        )
        if known.open_quarantine and pending.ready:  # keys that map cleanly now close theirs
            keys = list(dict.fromkeys(r[0] for r in pending.ready))
            release_quarantined(session, source, stream.name, keys, now)
        quarantined = quarantine(
            session, source, stream.name, pending.rejected, report.batch_id, known
        )
        stream.on_checkpoint(session, pending.mapped)
        write_state(
            session, source, stream.name, next_cursor, pending.received, report.batch_id, now
        )
        # ``append_many``, not ``append``: the entry object ``append`` returns is an ORM
        # instance, and building the first one configures every mapper (~30 ms a sync).
        audit_append_many(
            session,
            [
                {
                    "direction": Direction.INBOUND,
                    "counterpart": source,
                    "actor_subject": actor,
                    "operation": f"sync.{stream.name}",
                    "object_refs": {
                        "stream": stream.name,
                        "inserted": inserted,
                        "updated": updated,
                        "unchanged": unchanged,
                        "quarantined": quarantined,
                    },
                    "record_count": pending.received,
                    "payload_sha256": pending.digest.hexdigest(),
                    "correlation_id": report.batch_id,
                    "at": now,
                }
            ],
        )
    report.received += pending.received
    report.inserted += inserted
    report.updated += updated
    report.unchanged += unchanged
    report.quarantined += len(pending.rejected)
    report.checkpoints += 1


def _after_sync(sessions: sessionmaker[Session], report: SyncReport, *, flushed: bool) -> None:
    """On PostgreSQL, once a stream's last checkpoint is in: make sure it is on disk, and
    refresh the planner's statistics of ``source_record`` if the sync doubled it.

    **On disk.** The last checkpoint normally commits with the sync's final cursor and waits
    itself (``flushed``); when the records ended exactly at a checkpoint, the stream's state
    row is rewritten as it is — a write of its own, so its waiting commit flushes the WAL up
    to it, every checkpoint before included.

    **Statistics**, for the queries that read the records afterwards (the resolver's, by
    person and by cursor): a young table has none until autovacuum comes round, up to a
    minute later. The engine's own lookup does not need them (``store._LOOKUP_PG`` probes the
    unique index per key), so the table is analyzed once a stream is done, not while it
    fills: analyzed at each doubling during the sync, a first 民政 load spent 40–66 ms of its
    ~950 waiting on ANALYZE. Doubling (pages on disk against ``pg_class.relpages``, which
    ANALYZE sets) keeps it to log(N) runs over a table's life, whichever streams fill it.
    Only the columns those queries filter on: statistics of the JSON payloads cost most of a
    full ANALYZE (each sampled value detoasted) and no plan here uses them; autovacuum still
    analyzes the whole table in its own time. Statistics are an optimisation: a failure
    there is logged, and the records stored stay stored.
    """
    if not report.checkpoints:
        return
    with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            return  # every SQLite commit is as durable as the last (see _commit_checkpoint)
        if not flushed:
            with session.begin():
                rewrite_state(session, report.source, report.stream)
        try:
            with session.begin():
                analyzed, now = session.execute(_PAGES).one()
                if now >= 2 * max(analyzed, 1):
                    session.execute(_ANALYZE)
        except Exception as exc:
            log.warning(
                "ANALYZE source_record after %s/%s skipped (%s)",
                report.source,
                report.stream,
                type(exc).__name__,
            )
