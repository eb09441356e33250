"""The sync engine shared by every adapter.

The promise it keeps: **the cursor never moves past data that was not stored.** Records are
written in checkpoints of N; each checkpoint — new and changed source records, quarantined
ones, the stream's cursor and one exchange-log entry — is a single transaction. A crash loses
at most the checkpoint in flight, whose records the source will deliver again from the stored
cursor; they are then recognised by their content hash, so a re-run neither loses nor
duplicates anything.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, bindparam, cast, exists, insert, literal, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
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
from audit import append as audit_append
from canonical_model import (
    Direction,
    Quarantine,
    QuarantineStatus,
    SourceRecord,
    SourceRecordHistory,
    SyncState,
    utcnow,
)

ProgressCallback = Callable[[SyncReport], None]
SYNC_ACTOR = "gridhub-sync"
_KEY_CHUNK = 400  # keys per IN (…) lookup: well inside every backend's parameter limit
# A NUL character as JSON writes it. PostgreSQL's text and JSONB refuse it, so a record holding
# one would fail its whole checkpoint on every run; it is quarantined instead (on every backend,
# so the embedded store behaves like a district's). A text that literally spells the escape
# ("\\u0000") is caught too — rare enough to accept.
_NUL = b"\\u0000"
_NUL_REASON = "a NUL character, which the store cannot hold"
# A source record of these systems is a few KB. One of megabytes is an error or an attack
# (a 10 MB name, a 1 MB address); mapping it would silently keep a truncated value or carry
# megabytes into every read of the payload, so it is quarantined whole instead.
DEFAULT_MAX_RECORD_BYTES = 256 * 1024


class ConcurrentSyncError(RuntimeError):
    """Another run moved this stream's cursor while we were syncing it."""


# One encoder for every record: ``json.dumps`` with options builds a new JSONEncoder per
# call, which cost as much as the encoding itself on small records. Same options, so the
# same bytes (and hashes) as before.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_json(value: Any) -> bytes:
    """The one serialisation used for hashing: key order and spacing can never change a hash."""
    return _ENCODER.encode(value).encode("utf-8")


def content_hash(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def raw_bytes(raw: Mapping[str, Any] | bytes) -> bytes:
    return raw if isinstance(raw, bytes) else canonical_json(raw)


def load_cursor(sessions: sessionmaker[Session], source: str, stream: str) -> dict[str, Any]:
    return _load_state(sessions, source, stream)[0]


def _load_state(
    sessions: sessionmaker[Session], source: str, stream: str
) -> tuple[dict[str, Any], str | None]:
    """The stored cursor and the batch that last wrote it."""
    with sessions() as session:
        state = session.get(SyncState, (source, stream))
        return (dict(state.cursor), state.last_batch_id) if state else ({}, None)


@dataclass(frozen=True, slots=True)
class _Ready:
    """A mapped record with its payload encoded once: for the hash and for storage."""

    mapped: Mapped
    payload_json: str
    digest: str
    canonical_json: str


@dataclass(slots=True)
class _Checkpoint:
    """What has been extracted since the last commit."""

    ready: list[_Ready]
    rejected: list[tuple[Extracted, RecordRejected]]
    digest: Any  # hashlib sha256 of everything received, for the exchange log
    received: int = 0

    @classmethod
    def empty(cls) -> _Checkpoint:
        return cls(ready=[], rejected=[], digest=hashlib.sha256())

    @property
    def mapped(self) -> list[Mapped]:
        return [r.mapped for r in self.ready]

    def __len__(self) -> int:
        return self.received


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
    cursor, last_batch = _load_state(sessions, adapter.name, stream.name)
    stored_cursor = dict(cursor)
    pending = _Checkpoint.empty()

    def commit(next_cursor: Mapping[str, Any]) -> None:
        nonlocal stored_cursor, pending, last_batch
        _commit_checkpoint(
            sessions,
            adapter.name,
            stream,
            report,
            pending,
            (stored_cursor, last_batch),
            next_cursor,
            actor,
        )
        last_batch = report.batch_id
        stored_cursor = dict(next_cursor)
        report.cursor = stored_cursor
        pending = _Checkpoint.empty()
        if progress:
            progress(report)

    try:
        for item in stream.extract(cursor):
            if isinstance(item, Flush):
                if len(pending):
                    commit(dict(item.cursor))
                cursor = dict(item.cursor)
                continue
            pending.received += 1
            received = raw_bytes(item.raw)
            pending.digest.update(received)
            try:
                if len(received) > max_record_bytes:
                    raise RecordRejected(
                        "schema.oversized",
                        f"record of {len(received)} bytes is over the limit of "
                        f"{max_record_bytes} (GRIDHUB_SYNC_MAX_RECORD_BYTES)",
                    )
                mapped = stream.map(item)
                # Most streams keep the parsed record as the payload: its encoding is the one
                # just hashed for the exchange log, so it is not encoded a second time.
                encoded = received if mapped.payload is item.raw else canonical_json(mapped.payload)
                # Encoded here, outside the checkpoint transaction that holds the stream's
                # lock, and where a value JSON cannot hold is a quarantine.
                canonical = canonical_json(mapped.canonical)
                if _NUL in encoded or _NUL in canonical:
                    raise RecordRejected("encoding.nul", _NUL_REASON)
                pending.ready.append(
                    _Ready(
                        mapped,
                        encoded.decode("utf-8"),
                        hashlib.sha256(encoded).hexdigest(),
                        canonical.decode("utf-8"),
                    )
                )
            except RecordRejected as rejection:
                pending.rejected.append((item, rejection))
            except Exception as exc:  # a mapping bug must not stop the batch or lose the record
                pending.rejected.append(
                    (item, RecordRejected("mapping.error", f"mapper raised {type(exc).__name__}"))
                )
            cursor = dict(item.cursor)
            if len(pending) >= checkpoint_every:
                commit(cursor)
    except SourceUnavailable as exc:
        # Everything received before the failure is complete: store it, then report.
        if len(pending):
            commit(cursor)
        report.error = str(exc)
        raise
    final = stream.final_cursor()
    if len(pending) or (final is not None and dict(final) != stored_cursor):
        commit(dict(final) if final is not None else cursor)
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
    """Sync every stream (or the named ones) of an adapter, closing it afterwards."""
    try:
        chosen = [adapter.stream(n) for n in streams] if streams else list(adapter.streams())
        return [
            sync_stream(
                adapter,
                s,
                sessions,
                checkpoint_every=checkpoint_every,
                progress=progress,
                max_record_bytes=max_record_bytes,
            )
            for s in chosen
        ]
    finally:
        adapter.close()


def _commit_checkpoint(
    sessions: sessionmaker[Session],
    source: str,
    stream: Stream,
    report: SyncReport,
    pending: _Checkpoint,
    expected: tuple[Mapping[str, Any], str | None],
    next_cursor: Mapping[str, Any],
    actor: str,
) -> None:
    """Store one checkpoint, unless another run has written this stream since we last did.

    Both the cursor and the batch that wrote it are compared: a stream whose cursor only
    moves at the end (a FHIR search) would otherwise not notice a second run.
    """
    now = utcnow()
    expected_cursor, expected_batch = expected
    with sessions() as session, session.begin():
        state = _lock_state(session, source, stream.name)
        if dict(state.cursor) != dict(expected_cursor) or state.last_batch_id != expected_batch:
            raise ConcurrentSyncError(
                f"the cursor of {source}/{stream.name} moved during this sync; "
                "another run is syncing it — this run stops without storing its checkpoint"
            )
        inserted, updated, unchanged = _upsert_records(
            session, source, stream.name, pending.ready, report.batch_id, now
        )
        quarantined = _quarantine(session, source, stream.name, pending.rejected, report.batch_id)
        stream.on_checkpoint(session, pending.mapped)
        state.cursor = dict(next_cursor)
        state.records_seen += pending.received
        state.last_batch_id = report.batch_id
        state.updated_at = now
        audit_append(
            session,
            direction=Direction.INBOUND,
            counterpart=source,
            actor_subject=actor,
            operation=f"sync.{stream.name}",
            object_refs={
                "stream": stream.name,
                "inserted": inserted,
                "updated": updated,
                "unchanged": unchanged,
                "quarantined": quarantined,
            },
            record_count=pending.received,
            payload_sha256=pending.digest.hexdigest(),
            correlation_id=report.batch_id,
            at=now,
        )
    report.received += pending.received
    report.inserted += inserted
    report.updated += updated
    report.unchanged += unchanged
    report.quarantined += len(pending.rejected)
    report.checkpoints += 1
    _refresh_statistics(sessions, report.checkpoints)


def _refresh_statistics(sessions: sessionmaker[Session], checkpoints: int) -> None:
    """Keep PostgreSQL's planner statistics in step with a table that is filling up fast.

    On a young ``source_record`` table the planner has no statistics, uses the unique index
    only on (source, stream) and filters ``source_key`` row by row: every checkpoint's lookup
    then scans the whole stream and a first full sync slows down quadratically (measured: 179
    records/s at 100k). Analyzing after checkpoints 1, 2, 4, 8, … costs log(N) short ANALYZE
    runs per sync and keeps the lookups on the index.
    """
    if checkpoints & (checkpoints - 1):
        return
    with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            return
        session.execute(text("ANALYZE source_record"))
        session.commit()


def _lock_state(session: Session, source: str, stream: str) -> SyncState:
    state = session.scalars(
        select(SyncState)
        .where(SyncState.source == source, SyncState.stream == stream)
        .with_for_update()
    ).one_or_none()
    if state is None:
        state = SyncState(source=source, stream=stream, cursor={}, records_seen=0)
        session.add(state)
        session.flush()
    return state


def _chunks(items: Sequence[Any], size: int = _KEY_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _json_param(session: Session, name: str) -> Any:
    """A bind parameter carrying JSON that is already encoded (canonical_json).

    Records are encoded once, for their content hash; letting the JSON column type encode
    them again would double the engine's largest CPU cost.
    """
    param = bindparam(name, type_=Text())
    if session.get_bind().dialect.name == "postgresql":
        return cast(param, JSONB)
    return param


def _upsert_records(
    session: Session,
    source: str,
    stream: str,
    ready: Sequence[_Ready],
    batch_id: str,
    now: Any,
) -> tuple[int, int, int]:
    """Insert new records, version changed ones, skip unchanged ones.

    Returns (inserted, updated, unchanged) with inserted + updated + unchanged == len(ready):
    ``updated`` counts every new version, so the accounting always balances. A key that
    appears several times in one checkpoint is applied in order, so each of its intermediate
    versions still reaches the history.
    """
    if not ready:
        return 0, 0, 0
    keys = list(dict.fromkeys(r.mapped.source_key for r in ready))
    current: dict[str, tuple[int, str, int]] = {}
    for chunk in _chunks(keys):
        rows = session.execute(
            select(
                SourceRecord.source_key,
                SourceRecord.id,
                SourceRecord.content_hash,
                SourceRecord.version,
            ).where(
                SourceRecord.source == source,
                SourceRecord.stream == stream,
                SourceRecord.source_key.in_(chunk),
            )
        )
        current.update({key: (rid, digest, ver) for key, rid, digest, ver in rows})

    new: dict[str, dict[str, Any]] = {}
    changed: dict[str, dict[str, Any]] = {}  # source_key → new values of an existing record
    superseded: list[tuple[int, int]] = []  # (record id, version) whose stored state to keep
    interim: list[dict[str, Any]] = []  # versions superseded within this checkpoint
    unchanged = 0
    versions = 0  # every version after the first, stored or within this batch
    for r in ready:
        key = r.mapped.source_key
        row = {
            "b_payload": r.payload_json,
            "b_canonical": r.canonical_json,
            "content_hash": r.digest,
            "batch_id": batch_id,
            "updated_at": now,
        }
        pending = new.get(key) or changed.get(key)
        if pending is not None:
            if pending["content_hash"] == r.digest:
                unchanged += 1
                continue
            interim.append({"key": key, **pending})
            target = new if key in new else changed
            target[key] = {**pending, **row, "version": pending["version"] + 1}
            versions += 1
        elif key in current:
            rid, old_digest, version = current[key]
            if old_digest == r.digest:
                unchanged += 1
                continue
            superseded.append((rid, version))
            changed[key] = {"rid": rid, **row, "version": version + 1}
            versions += 1
        else:
            new[key] = {
                "source": source,
                "stream": stream,
                "source_key": key,
                "received_at": now,
                "version": 1,
                **row,
            }

    table = SourceRecord.metadata.tables["source_record"]
    if superseded:
        _archive_versions(session, superseded, now)
    if new:
        session.execute(
            insert(table).values(
                payload=_json_param(session, "b_payload"),
                canonical=_json_param(session, "b_canonical"),
            ),
            list(new.values()),
        )
    if changed:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("rid"))
            .values(
                payload=_json_param(session, "b_payload"),
                canonical=_json_param(session, "b_canonical"),
                content_hash=bindparam("b_content_hash"),
                version=bindparam("b_version"),
                batch_id=bindparam("b_batch_id"),
                updated_at=bindparam("b_updated_at", type_=SourceRecord.updated_at.type),
            ),
            [
                {
                    "rid": v["rid"],
                    "b_payload": v["b_payload"],
                    "b_canonical": v["b_canonical"],
                    "b_content_hash": v["content_hash"],
                    "b_version": v["version"],
                    "b_batch_id": v["batch_id"],
                    "b_updated_at": v["updated_at"],
                }
                for v in changed.values()
            ],
        )
    if interim:
        ids: dict[str, int] = {
            key: rid
            for key, rid in session.execute(
                select(SourceRecord.source_key, SourceRecord.id).where(
                    SourceRecord.source == source,
                    SourceRecord.stream == stream,
                    SourceRecord.source_key.in_({r["key"] for r in interim}),
                )
            )
        }
        session.execute(
            insert(SourceRecordHistory.metadata.tables["source_record_history"]).values(
                payload=_json_param(session, "b_payload")
            ),
            [
                {
                    "source_record_id": ids[r["key"]],
                    "version": r["version"],
                    "content_hash": r["content_hash"],
                    "b_payload": r["b_payload"],
                    "batch_id": r["batch_id"],
                    "received_at": r.get("received_at", now),
                    "superseded_at": now,
                }
                for r in interim
            ],
        )
    if _has_open_quarantine(session, source, stream):
        _release_quarantined(session, source, stream, keys, now)
    return len(new), versions, unchanged


def _has_open_quarantine(session: Session, source: str, stream: str) -> bool:
    """One indexed probe per checkpoint instead of an UPDATE per key chunk."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    Quarantine.source == source,
                    Quarantine.stream == stream,
                    Quarantine.status == QuarantineStatus.OPEN,
                )
            )
        )
    )


def _release_quarantined(
    session: Session, source: str, stream: str, keys: Sequence[str], now: Any
) -> None:
    """A key that now maps cleanly closes its open quarantine entries: the source fixed it."""
    for chunk in _chunks(keys):
        session.execute(
            update(Quarantine)
            .where(
                Quarantine.source == source,
                Quarantine.stream == stream,
                Quarantine.status == QuarantineStatus.OPEN,
                Quarantine.source_key.in_(chunk),
            )
            .values(status=QuarantineStatus.RELEASED, released_at=now)
            .execution_options(synchronize_session=False)
        )


def _archive_versions(session: Session, superseded: list[tuple[int, int]], now: Any) -> None:
    """Copy the stored state of records about to change into the history table.

    ``INSERT … SELECT`` inside the database: the old payload never travels through Python.
    The stream's state row is locked, so the versions read earlier are still current.
    """
    history = SourceRecordHistory.metadata.tables["source_record_history"]
    records = SourceRecord.metadata.tables["source_record"]
    for chunk in _chunks([rid for rid, _ in superseded]):
        session.execute(
            insert(history).from_select(
                [
                    "source_record_id",
                    "version",
                    "content_hash",
                    "payload",
                    "batch_id",
                    "received_at",
                    "superseded_at",
                ],
                select(
                    records.c.id,
                    records.c.version,
                    records.c.content_hash,
                    records.c.payload,
                    records.c.batch_id,
                    records.c.updated_at,
                    literal(now, type_=SourceRecord.updated_at.type),
                ).where(records.c.id.in_(list(chunk))),
            )
        )


def _quarantine(
    session: Session,
    source: str,
    stream: str,
    rejected: Sequence[tuple[Extracted, RecordRejected]],
    batch_id: str,
) -> int:
    """Keep each rejected record whole, once: a re-delivered bad record is not stored twice."""
    if not rejected:
        return 0
    candidates = [
        (item.source_key or rejection.source_key, raw_bytes(item.raw), rejection)
        for item, rejection in rejected
    ]
    keys = {key for key, _, _ in candidates if key is not None}
    seen: set[tuple[str | None, bytes]] = set()
    if keys:
        for chunk in _chunks(sorted(keys)):
            seen.update(
                (key, bytes(raw))
                for key, raw in session.execute(
                    select(Quarantine.source_key, Quarantine.raw).where(
                        Quarantine.source == source,
                        Quarantine.stream == stream,
                        Quarantine.status == QuarantineStatus.OPEN,
                        Quarantine.source_key.in_(chunk),
                    )
                )
            )
    rows = []
    for key, raw, rejection in candidates:
        if (key, raw) in seen:
            continue
        seen.add((key, raw))
        rows.append(
            {
                "source": source,
                "stream": stream,
                "source_key": key,
                "raw": raw,
                "reason_code": rejection.reason_code,
                "reason": rejection.reason,
                "batch_id": batch_id,
                "status": QuarantineStatus.OPEN,
            }
        )
    if rows:
        session.execute(insert(Quarantine), rows)
    return len(rows)
